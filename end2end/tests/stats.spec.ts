// The stats page follows the message processor live.
import { expect, test } from "@playwright/test";
import { createRoom, gotoHydrated, person, seedMessages, unique } from "./helpers";

test("the stats page's numbers rise while messages are sent", async ({ browser, page }) => {
  await gotoHydrated(page, "/stats");
  const processed = page.getByRole("group", { name: "Messages processed" });
  const before = Number(await processed.locator(".figure-value").textContent());
  await expect(page.getByRole("img", { name: /Messages stored per second/ })).toBeVisible();

  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Counter "));
  await seedMessages(ana.page, roomId, 60, "tick");

  await expect
    .poll(async () => Number(await processed.locator(".figure-value").textContent()), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(before + 60);
  await expect(page.getByRole("group", { name: "Connections" })).not.toContainText(/^Connections0$/);
  await expect(page.getByRole("img", { name: /peak [1-9]/ })).toBeVisible();
  await ana.context.close();
});
