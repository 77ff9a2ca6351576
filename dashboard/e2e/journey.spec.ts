import { expect, test } from "@playwright/test";
import { expectAccessible, logIn, screenshot, signUp, uniqueSlug } from "./support";

test("sign up, log in, create a lead, work it", async ({ page }) => {
  const slug = uniqueSlug("journey");
  const email = `ana@${slug}.example.com`;
  await signUp(page, slug, email);
  await page.getByRole("button", { name: "Sair" }).click();
  await logIn(page, email);

  await test.step("create a lead: the API's field errors show by their fields", async () => {
    await page.getByRole("link", { name: "Leads" }).click();
    await expect(page.getByRole("heading", { name: "Leads", level: 1 })).toBeVisible();
    await page.getByRole("button", { name: "Novo lead" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Nome").fill("João Silva");
    await dialog.getByLabel("E-mail").fill("joao-sem-arroba");
    await dialog.getByRole("button", { name: "Salvar" }).click();
    await expect(dialog.getByText(/valid email address/)).toBeVisible();
    await dialog.getByLabel("E-mail").fill("joao@example.com");
    await dialog.getByLabel("Empresa").fill("Padaria Estrela");
    await dialog.getByLabel("Origem").fill("web");
    await dialog.getByRole("button", { name: "Salvar" }).click();
    await expect(page.getByRole("heading", { name: "João Silva", level: 1 })).toBeVisible();
  });

  await test.step("a note lands on the timeline", async () => {
    await page.getByLabel("Nova nota").fill("Ligou pedindo proposta");
    await page.getByRole("button", { name: "Adicionar nota" }).click();
    await expect(page.getByText("Ligou pedindo proposta")).toBeVisible();
    await expect(page.getByText(/Criado por Ana Souza/)).toBeVisible();
    await expectAccessible(page);
    await screenshot(page, "lead-detail");
  });

  await test.step("the list finds it without accents", async () => {
    await page.getByRole("link", { name: "Leads" }).first().click();
    await page.getByLabel("Buscar").fill("joao padaria");
    await expect(page.getByRole("link", { name: "João Silva" })).toBeVisible();
    await expectAccessible(page);
    await screenshot(page, "leads");
  });

  await test.step("reports count the lead (OpenSearch, within a few seconds)", async () => {
    await page.getByRole("link", { name: "Relatórios" }).click();
    const byStatus = page.getByRole("table").filter({ hasText: "Status" }).first();
    await expect(async () => {
      await page.reload();
      await expect(byStatus.getByRole("row", { name: /Novo 1/ })).toBeVisible({ timeout: 2000 });
    }).toPass({ timeout: 30_000 });
    await expectAccessible(page);
    await screenshot(page, "reports");
  });

  await test.step("the overview in English", async () => {
    await page.getByText("English", { exact: true }).click();
    await page.getByRole("link", { name: "Overview" }).click();
    await expect(page.getByRole("heading", { name: "Overview", level: 1 })).toBeVisible();
    await expect(page.getByTestId("kpi-New leads")).toHaveText("1");
    await expectAccessible(page);
    await screenshot(page, "overview");
    await page.getByRole("link", { name: "Leads" }).click();
    await expect(page.getByRole("button", { name: "New lead" })).toBeVisible();
    await page.getByText("Português", { exact: true }).click();
  });
});
