import { expect, test } from "@playwright/test";
import { expectAccessible, logIn, screenshot, signUp, uniqueSlug } from "./support";

test("sign up, sign out, and a deep link comes back after login", async ({ page }) => {
  const slug = uniqueSlug("auth");
  const email = `ana@${slug}.example.com`;
  await page.goto("login");
  await expect(page.getByRole("heading", { name: "Entre no seu espaço de trabalho" })).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "login");

  await signUp(page, slug, email);
  await page.getByRole("button", { name: "Sair" }).click();
  await expect(page.getByRole("button", { name: "Entrar" })).toBeVisible();

  // A deep link while signed out: log in, then land where the link pointed.
  await page.goto("leads");
  await expect(page).toHaveURL(/\/app\/login\?next=%2Fleads/);
  await logIn(page, email);
  await expect(page).toHaveURL(/\/app\/leads$/);

  // On a 390 px phone the navigation folds behind the menu button.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("button", { name: "Abrir o menu" }).click();
  await page.getByRole("link", { name: "Funil" }).click();
  await expect(page.getByRole("heading", { name: "Funil", level: 1 })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test("a field the API refuses is named next to it, in English too", async ({ page }) => {
  await page.goto("signup");
  await page.getByText("English", { exact: true }).click();
  await expect(page.getByRole("heading", { name: "Create your workspace" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await page.getByLabel("Company name").fill("Acme");
  await page.getByLabel("Workspace (slug)").fill(uniqueSlug("acme"));
  await page.getByLabel("Your name").fill("Ann");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create an account" }).click();
  await expect(page.getByText(/valid email address/)).toBeVisible();
  await expectAccessible(page);
});
