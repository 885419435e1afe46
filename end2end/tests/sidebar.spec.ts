// The sidebar beside every signed-in page: live unread badges, the tab title's count, and the phone drawer.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, createRoom, gotoHydrated, joinRoom, person, say, unique } from "./helpers";

test("a message in another room raises that room's badge and the tab title live", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const hall = unique("Hall ");
  const desk = unique("Desk ");
  await createRoom(ana.page, hall);
  await gotoHydrated(ana.page, "/");
  await createRoom(ana.page, desk);
  await joinRoom(ben.page, hall);

  const sidebar = ana.page.getByRole("navigation", { name: "Rooms and conversations" });
  const hallRow = sidebar.getByRole("link", { name: new RegExp(hall) });
  await expect(hallRow).toBeVisible();
  await expect(ana.page).toHaveTitle(new RegExp(`^${desk} · Minitalk$`));

  await say(ben.page, `@${ana.name} first`);
  await say(ben.page, "second");
  // Ana is in another room: the hall's badge and the title count both messages, without a reload,
  // and a second badge counts the one that mentions her.
  await expect(hallRow.getByLabel("2 unread")).toBeVisible();
  await expect(hallRow.getByLabel("1 unread mention of you")).toHaveText("@1");
  await expect(ana.page).toHaveTitle(new RegExp(`^\\(2\\) ${desk} · Minitalk$`));
  await ana.page.screenshot({ path: path.join(SCREENS, "sidebar-unread.png"), fullPage: true });

  // Opening the room reads it: the badge and the count go.
  await hallRow.click();
  await expect(ana.page.getByRole("heading", { level: 1, name: hall })).toBeVisible();
  await expect(ana.page).toHaveTitle(new RegExp(`^${hall} · Minitalk$`));
  await expect(hallRow.getByLabel(/unread/)).toHaveCount(0);
  await expect(hallRow).toHaveAttribute("aria-current", "page");
  // And it stays read after moving on (the read mark reached the server).
  await sidebar.getByRole("link", { name: new RegExp(desk) }).click();
  await expect(ana.page.getByRole("heading", { level: 1, name: desk })).toBeVisible();
  await expect(ana.page).toHaveTitle(new RegExp(`^${desk} · Minitalk$`));
  await expect(hallRow.getByLabel(/unread/)).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});

test("on a phone the sidebar is a drawer opened from the header", async ({ browser }) => {
  const ana = await person(browser, "ana");
  await ana.page.setViewportSize({ width: 390, height: 800 });
  const hall = unique("Hall ");
  await createRoom(ana.page, hall);
  await gotoHydrated(ana.page, "/");

  const sidebar = ana.page.getByRole("navigation", { name: "Rooms and conversations" });
  const toggle = ana.page.getByRole("button", { name: "Rooms", exact: true });
  await expect(sidebar).toBeHidden();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await toggle.click();
  await expect(sidebar).toBeVisible();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await ana.page.screenshot({ path: path.join(SCREENS, "sidebar-drawer.png"), animations: "disabled" });

  await sidebar.getByRole("link", { name: new RegExp(hall) }).click();
  const title = ana.page.getByRole("heading", { level: 1, name: hall });
  await expect(title).toBeVisible();
  await expect(sidebar).toBeHidden();

  // The room's name keeps the width of the page (beside its controls it was squeezed to a letter a line).
  const titleBox = (await title.boundingBox())!;
  expect(titleBox.width).toBeGreaterThan(200);
  expect(titleBox.height).toBeLessThan(80);

  await ana.context.close();
});

test("a room is read only while its tab is visible, and opens at a divider above the first unread", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const hall = unique("Hall ");
  const desk = unique("Desk ");
  const hallId = await createRoom(ana.page, hall);
  await gotoHydrated(ana.page, "/");
  await createRoom(ana.page, desk);
  await joinRoom(ben.page, hall);
  await say(ben.page, "before");

  // A second tab of Ana's shows the hall, then is hidden (switched away from).
  const hidden = await ana.context.newPage();
  await gotoHydrated(hidden, `/rooms/${hallId}`);
  await expect(hidden.getByText("before")).toBeVisible();
  await hidden.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    // As the browser fires it: at the document, bubbling to the window.
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  });
  await say(ben.page, "while you were away");
  await say(ben.page, "and more");

  // The first tab (on the desk) sees the hall's count rise, and the hidden tab does not read it away.
  const hallRow = ana.page.getByRole("navigation", { name: "Rooms and conversations" }).getByRole("link", { name: new RegExp(hall) });
  await expect(hallRow.getByLabel("2 unread")).toBeVisible();
  await expect(hidden.getByText("and more")).toBeVisible();
  await ana.page.waitForTimeout(1_500); // longer than the read mark's debounce
  await expect(hallRow.getByLabel("2 unread")).toBeVisible();

  // Opening the hall in the first tab: the divider sits above the first unread message.
  await hallRow.click();
  const divider = ana.page.getByRole("separator").filter({ hasText: "New messages" });
  await expect(divider).toBeVisible();
  await expect(ana.page.locator("li.msg", { has: divider })).toContainText("while you were away");
  await expect(ana.page.getByRole("button", { name: "Jump to first unread" })).toBeVisible();
  await ana.page.screenshot({ path: path.join(SCREENS, "room-new-messages-divider.png"), fullPage: true });
  await expect(hallRow.getByLabel(/unread/)).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});
