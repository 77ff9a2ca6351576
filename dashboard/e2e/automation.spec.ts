import { expect, test } from "@playwright/test";
import { expectAccessible, screenshot, signUp, uniqueSlug } from "./support";

test("build an automation in the editor, publish, a matching lead runs it", async ({ page }) => {
  // The run goes through the outbox, RabbitMQ, the router and Step Functions: give a loaded
  // machine time.
  test.setTimeout(180_000);
  const slug = uniqueSlug("auto");
  await signUp(page, slug, `ana@${slug}.example.com`);
  await page.getByRole("link", { name: "Automações" }).click();
  await page.getByRole("link", { name: "Nova automação" }).click();

  await page.getByLabel("Nome").fill("Leads da web esperam");
  await page.getByRole("button", { name: "Condição" }).click();
  await page.getByLabel("Campo").fill("lead.source");
  await page.getByLabel("Valor").fill("web");
  // With the condition selected, the next step goes into its "then" branch.
  await page.getByRole("button", { name: "Espera" }).click();
  await page.getByLabel("Segundos").fill("1");
  await expect(page.getByTestId("node-condition_1")).toBeVisible();
  await expect(page.getByTestId("node-delay_1")).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "automation-editor");
  await page.getByRole("button", { name: "Publicar" }).click();
  await expect(page.getByRole("heading", { name: "Leads da web esperam", level: 1 })).toBeVisible();

  await test.step("simulate shows the path on the graph", async () => {
    await page.getByRole("button", { name: "Simular" }).click();
    await expect(page.getByTestId("node-delay_1")).toHaveAttribute("data-state", "taken");
  });

  await test.step("a matching lead starts a run, shown step by step", async () => {
    const automationUrl = page.url();
    await page.getByRole("link", { name: "Leads" }).click();
    await page.getByRole("button", { name: "Novo lead" }).click();
    await page.getByRole("dialog").getByLabel("Nome").fill("Maria Web");
    await page.getByRole("dialog").getByLabel("Origem").fill("web");
    await page.getByRole("dialog").getByRole("button", { name: "Salvar" }).click();
    await expect(page.getByRole("heading", { name: "Maria Web", level: 1 })).toBeVisible();
    await page.goto(automationUrl);
    // The run list polls; a run shows once the router started it. Its steps come from the
    // execution history: the condition has run and the delay was entered (the local Step
    // Functions may still be waiting on a loaded machine).
    const run = page.getByRole("row").filter({ hasText: /Sucesso|Em execução/ }).getByRole("button");
    await expect(run).toBeVisible({ timeout: 60_000 });
    await run.click();
    await expect(page.getByTestId("node-condition_1")).toHaveAttribute("data-state", "succeeded");
    await expect(page.getByTestId("node-delay_1")).toHaveAttribute("data-state", /running|succeeded/);
    await screenshot(page, "automation-run");
  });

  await test.step("the automations list and the reports count the run", async () => {
    await page.getByRole("link", { name: "Automações" }).click();
    // name, runs, succeeded, failed, running: one run, not failed.
    const counted = /Leads da web esperam 1 (1 0 0|0 0 1)/;
    await expect(page.getByRole("row", { name: counted })).toBeVisible();
    await page.getByRole("link", { name: "Relatórios" }).click();
    await expect(page.getByRole("row", { name: counted })).toBeVisible();
  });
});
