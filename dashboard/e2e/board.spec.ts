import { expect, test, type Locator, type Page } from "@playwright/test";
import { expectAccessible, logIn, screenshot, signUp, uniqueSlug } from "./support";

async function drag(page: Page, card: Locator, target: Locator): Promise<void> {
  const from = await card.boundingBox();
  const to = await target.boundingBox();
  if (!from || !to) throw new Error("card or column not visible");
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2, { steps: 3 });
  await page.mouse.move(to.x + to.width / 2, to.y + 60, { steps: 12 });
  await page.mouse.up();
}

test("drag a deal across the board; a second browser sees it move live", async ({ page, browser }) => {
  const slug = uniqueSlug("board");
  const email = `ana@${slug}.example.com`;
  await signUp(page, slug, email);
  await page.getByRole("link", { name: "Funil" }).click();
  await page.getByRole("button", { name: "Novo negócio" }).click();
  await page.getByRole("dialog").getByLabel("Título").fill("Padaria Estrela");
  await page.getByRole("dialog").getByLabel("Valor").fill("1500.50");
  await page.getByRole("dialog").getByRole("button", { name: "Salvar" }).click();
  const prospecting = page.getByTestId("stage-Prospecting");
  await expect(prospecting.getByRole("button", { name: "Padaria Estrela" })).toBeVisible();

  // Someone else (another browser, its own session) watches the same board.
  const other = await browser.newContext();
  const watcher = await other.newPage();
  await watcher.goto("pipeline");
  await logIn(watcher, email);
  await expect(watcher.getByTestId("stage-Prospecting").getByRole("button", { name: "Padaria Estrela" })).toBeVisible();
  await expect(watcher.locator("html")).toHaveAttribute("data-realtime", "open");

  await drag(page, prospecting.getByRole("button", { name: "Padaria Estrela" }), page.getByTestId("stage-Qualification"));
  await expect(page.getByTestId("stage-Qualification").getByRole("button", { name: "Padaria Estrela" })).toBeVisible();
  // The watcher did nothing: the WebSocket told its board to refetch.
  await expect(watcher.getByTestId("stage-Qualification").getByRole("button", { name: "Padaria Estrela" })).toBeVisible();
  await expect(watcher.getByTestId("stage-Prospecting").getByRole("button", { name: "Padaria Estrela" })).toHaveCount(0);
  await expectAccessible(page);
  await expect(page.getByTestId("stage-Qualification").getByText("1", { exact: true })).toBeVisible();
  await screenshot(page, "board");

  await test.step("a drop into Lost asks why", async () => {
    await drag(page, page.getByTestId("stage-Qualification").getByRole("button", { name: "Padaria Estrela" }), page.getByTestId("stage-Lost"));
    const dialog = page.getByRole("dialog", { name: "Por que este negócio foi perdido?" });
    await dialog.getByLabel("Motivo da perda").fill("Preço");
    await dialog.getByRole("button", { name: "Marcar como perdido" }).click();
    await expect(page.getByTestId("stage-Lost").getByRole("button", { name: "Padaria Estrela" })).toBeVisible();
    await expect(watcher.getByTestId("stage-Lost").getByRole("button", { name: "Padaria Estrela" })).toBeVisible();
  });
  await other.close();
});
