// Two people in two browsers: a room, live messages both ways, presence, typing, unread counts.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, gotoHydrated, joinRoom, messageItems, person, say, unique } from "./helpers";

test("two people chat live both ways", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const anaProblems = collectProblems(ana.page);
  const benProblems = collectProblems(ben.page);
  const room = unique("Plaza ");

  await createRoom(ana.page, room);
  await joinRoom(ben.page, room);

  await say(ana.page, "Hello from Ana");
  await expect(messageItems(ben.page).filter({ hasText: "Hello from Ana" })).toHaveCount(1);
  await say(ben.page, "Hi Ana, Ben here");
  await expect(messageItems(ana.page).filter({ hasText: "Hi Ana, Ben here" })).toHaveCount(1);
  await expect(messageItems(ana.page)).toHaveCount(2);
  await expect(messageItems(ben.page)).toHaveCount(2);

  // Both are online in each other's member list.
  const members = ana.page.getByRole("complementary", { name: "Members" });
  await expect(members.getByRole("listitem").filter({ hasText: ben.name })).toContainText("online");

  // Typing shows on the other side, and goes away by itself.
  await ben.page.getByRole("textbox", { name: "Message" }).pressSequentially("thinking", { delay: 30 });
  await expect(ana.page.getByText(`${ben.name} is typing…`)).toBeVisible();
  await ana.page.screenshot({ path: path.join(SCREENS, "chat-two-people.png"), fullPage: true });
  await expect(ana.page.getByText(`${ben.name} is typing…`)).toBeHidden({ timeout: 8_000 });

  // Shift+Enter adds a line; Enter sends both lines as one message.
  const composer = ana.page.getByRole("textbox", { name: "Message" });
  await composer.fill("first line");
  await composer.press("Shift+Enter");
  await composer.pressSequentially("second line");
  await composer.press("Enter");
  await expect(messageItems(ben.page).filter({ hasText: "first line" })).toContainText("second line");
  await expect(messageItems(ben.page)).toHaveCount(3);

  // Leaving: Ben goes offline in Ana's list.
  expect(benProblems, "Ben's console").toEqual([]);
  await ben.context.close();
  await expect(members.getByRole("listitem").filter({ hasText: ben.name })).toContainText("offline");
  expect(anaProblems, "Ana's console").toEqual([]);
  await ana.context.close();
});

test("unread counts on the rooms page follow what was read", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Desk ");
  await createRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await gotoHydrated(ben.page, "/");

  for (const text of ["one", "two", "three"]) await say(ana.page, text);
  await expect(messageItems(ana.page).filter({ hasText: "three" })).not.toContainText("pending");

  await gotoHydrated(ben.page, "/");
  // The rooms page's own list (the sidebar lists the rooms too).
  const row = ben.page.getByRole("main").getByRole("listitem").filter({ has: ben.page.getByRole("link", { name: room }) });
  await expect(row).toContainText("3 unread");

  await row.getByRole("link", { name: room }).click();
  await expect(messageItems(ben.page).filter({ hasText: "three" })).toBeVisible();
  // The read mark is sent shortly after the newest message shows.
  await expect(async () => {
    await gotoHydrated(ben.page, "/");
    await expect(row).toBeVisible();
    await expect(row).not.toContainText("unread", { timeout: 500 });
  }).toPass({ timeout: 15_000 });

  await ana.context.close();
  await ben.context.close();
});
