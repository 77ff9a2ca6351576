import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

export const PASSWORD = "Tucano azul de Ipanema 9384";

export function uniqueSlug(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Signs a new workspace up through the page; lands signed in on the overview. */
export async function signUp(page: Page, slug: string, email: string): Promise<void> {
  await page.goto("signup");
  await page.getByLabel("Nome da empresa").fill(`Empresa ${slug}`);
  await page.getByLabel("Espaço de trabalho (slug)").fill(slug);
  await page.getByLabel("Seu nome").fill("Ana Souza");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Senha").fill(PASSWORD);
  await page.getByRole("button", { name: "Criar uma conta" }).click();
  await expect(page.getByRole("navigation", { name: "Navegação principal" })).toBeVisible();
}

export async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Senha").fill(password);
  await page.getByRole("button", { name: "Entrar" }).click();
}

/** Fails on any serious or critical accessibility violation of the page as shown. */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
  ).toEqual([]);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.CRM_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: `${dir}/${name}.png`, fullPage: false });
}
