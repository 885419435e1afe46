// Who may post, and what a message may contain.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, createRoom, expectLive, gotoHydrated, joinRoom, messageItems, person, say, unique } from "./helpers";

test("a non-member sees why they cannot post, and can join", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Club ");
  await createRoom(ana.page, room);
  await say(ana.page, "members only");

  await gotoHydrated(ben.page, ana.page.url());
  await expect(ben.page.getByRole("alert").filter({ hasText: "you are not a member of this room" })).toBeVisible();
  await expect(ben.page.getByRole("textbox", { name: "Message" })).toHaveCount(0);
  await expect(ben.page.getByText("members only")).toHaveCount(0);
  await ben.page.screenshot({ path: path.join(SCREENS, "room-not-member.png"), fullPage: true });

  await ben.page.getByRole("button", { name: "Join room" }).click();
  await expectLive(ben.page);
  await expect(messageItems(ben.page).filter({ hasText: "members only" })).toHaveCount(1);

  await ana.context.close();
  await ben.context.close();
});

test("markup in a message is shown as text", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Lab ");
  await createRoom(ana.page, room);
  await gotoHydrated(ben.page, "/");
  await ben.page.getByRole("button", { name: `Join ${room}` }).click();
  await expectLive(ben.page);

  const markup = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold?</b>`;
  await say(ben.page, markup);
  for (const page of [ana.page, ben.page]) {
    await expect(messageItems(page).filter({ hasText: markup })).toHaveCount(1);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await expect(page.getByRole("log").locator("b, img, script")).toHaveCount(0);
  }
  // Also after a reload, when it comes from the server's HTML.
  await ana.page.reload();
  await expect(messageItems(ana.page).filter({ hasText: markup })).toHaveCount(1);
  await expect(ana.page.getByRole("log").locator("b, img, script")).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});

test("a refused message shows failed with Retry, and Retry resends it once", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const room = unique("Door ");
  const roomId = await createRoom(ana.page, room);
  await say(ana.page, "still a member");

  // Leave behind the page's back (as another tab would): the next send is refused.
  await ana.page.evaluate(async (roomId) => {
    await fetch("/api/leave_room", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room_id: roomId }),
    });
  }, roomId);
  await say(ana.page, "after leaving");
  const item = messageItems(ana.page).filter({ hasText: "after leaving" });
  await expect(item).toContainText("failed");
  await expect(item).toContainText("not a member");
  await ana.page.screenshot({ path: path.join(SCREENS, "room-failed-send.png"), fullPage: true });

  await ana.page.evaluate(async (roomId) => {
    await fetch("/api/join_room", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ room_id: roomId }),
    });
  }, roomId);
  await item.getByRole("button", { name: "Retry" }).click();
  await expect(item).not.toContainText("failed");
  await expect(item).not.toContainText("pending");
  await expect(messageItems(ana.page).filter({ hasText: "after leaving" })).toHaveCount(1);

  await ana.page.reload();
  await expect(messageItems(ana.page).filter({ hasText: "after leaving" })).toHaveCount(1);
  await ana.context.close();
});

test("leaving a room from the rooms page makes it joinable again in the directory", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const room = unique("Exit ");
  await createRoom(ana.page, room);
  await gotoHydrated(ana.page, "/");
  await expect(ana.page.getByRole("main").getByRole("link", { name: room })).toBeVisible();

  await ana.page.getByRole("button", { name: `Leave ${room}` }).click();
  await expect(ana.page.getByRole("button", { name: `Join ${room}` })).toBeVisible();
  await expect(ana.page.getByRole("link", { name: room })).toHaveCount(0);
  await ana.context.close();
});

test("joins and leaves change the member list live, without a reload", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Porch ");
  await createRoom(ana.page, room);
  const members = ana.page.getByRole("complementary", { name: "Members" });
  await expect(members.getByRole("listitem")).toHaveCount(1);

  await joinRoom(ben.page, room);
  const benRow = members.getByRole("listitem").filter({ hasText: ben.name });
  await expect(benRow).toContainText("online");
  await expect(members.getByRole("listitem")).toHaveCount(2);
  await ana.page.screenshot({ path: path.join(SCREENS, "room-member-joined.png"), fullPage: true });

  await gotoHydrated(ben.page, "/");
  await ben.page.getByRole("button", { name: `Leave ${room}` }).click();
  await expect(benRow).toHaveCount(0);
  await expect(members.getByRole("listitem")).toHaveCount(1);
  // The join and the leave took seqs but are not messages: the list shows none.
  await expect(messageItems(ana.page)).toHaveCount(0);

  await ana.context.close();
  await ben.context.close();
});
