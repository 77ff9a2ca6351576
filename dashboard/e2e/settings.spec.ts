import { expect, test } from "@playwright/test";
import { expectAccessible, screenshot, signUp, uniqueSlug } from "./support";

test("settings: the tenant's locale and currency format every page; audit log; usage", async ({ page }) => {
  const slug = uniqueSlug("settings");
  await signUp(page, slug, `ana@${slug}.example.com`);
  await page.getByRole("link", { name: "Configurações" }).click();
  await page.getByRole("textbox", { name: "Localidade (datas e números)" }).fill("pt-BR");
  await page.getByRole("option", { name: "pt-BR" }).click();
  await page.getByRole("textbox", { name: "Moeda" }).fill("BRL");
  await page.getByRole("option", { name: "BRL" }).click();
  await page.getByLabel("Fuso horário").fill("America/Sao_Paulo");
  await page.getByRole("button", { name: "Salvar" }).click();
  await expect(page.getByText("Configurações salvas")).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "settings");

  await page.getByRole("link", { name: "Visão geral" }).click();
  await expect(page.getByTestId("kpi-Valor em aberto no funil")).toHaveText(/R\$\s0,00/);

  await page.getByRole("link", { name: "Configurações" }).click();
  await page.getByRole("tab", { name: "Auditoria" }).click();
  await expect(page.getByRole("cell", { name: "tenant.settings_updated" })).toBeVisible();
  await expectAccessible(page);
  await page.getByRole("tab", { name: "Plano e uso" }).click();
  await expect(page.getByRole("row", { name: /Funis 1 1/ })).toBeVisible();
  await page.getByRole("tab", { name: "Mensagens mortas" }).click();
  await expect(page.getByText("Nenhuma mensagem morta: todo evento foi processado.")).toBeVisible();
  await expectAccessible(page);
});
