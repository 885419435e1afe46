// Desktop notifications as a person meets them: an explicit opt-in, a notification for a direct message in a
// room they are not looking at (and none for the room on screen), a click that opens the room at the message,
// and each room's level (rooms notify of mentions by default, and can be muted).
import * as path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { SCREENS, createRoom, expectLive, gotoHydrated, joinAt, messageItems, person, say, unique } from "./helpers";

/**
 * Stands in for the browser's Notification API (headless Chromium shows none): records every notification in
 * `window.__notes`, and keeps the granted permission across page loads of the tab like a real browser would.
 */
function fakeNotifications(): void {
  const shown: unknown[] = [];
  class FakeNotification {
    title: string;
    body: string;
    tag: string;
    onclick: (() => void) | null = null;
    closed = false;
    static get permission(): string {
      return sessionStorage.getItem("fake-notification-permission") ?? "default";
    }
    static async requestPermission(): Promise<string> {
      sessionStorage.setItem("fake-notification-permission", "granted");
      return "granted";
    }
    constructor(title: string, options: { body?: string; tag?: string } = {}) {
      this.title = title;
      this.body = options.body ?? "";
      this.tag = options.tag ?? "";
      shown.push(this);
    }
    close(): void {
      this.closed = true;
    }
  }
  Object.defineProperty(window, "Notification", { value: FakeNotification, configurable: true, writable: true });
  (window as unknown as { __notes: unknown[] }).__notes = shown;
}

type Shown = { title: string; body: string; tag: string };

async function notes(page: Page): Promise<Shown[]> {
  return page.evaluate(() =>
    ((window as unknown as { __notes: Shown[] }).__notes ?? []).map(({ title, body, tag }) => ({ title, body, tag })),
  );
}

async function turnOn(page: Page): Promise<void> {
  const sidebar = page.getByRole("navigation", { name: "Rooms and conversations" });
  await expect(sidebar.getByText("Desktop notifications are off.")).toBeVisible();
  await sidebar.getByRole("button", { name: "Turn on" }).click();
  await expect(sidebar.getByText("Desktop notifications are on.")).toBeVisible();
}

test("a direct message notifies in another room, not in its own, and the click opens it at the message", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  await ana.context.addInitScript(fakeNotifications);
  await gotoHydrated(ana.page, "/");
  const deskId = await createRoom(ana.page, unique("Desk "));
  await turnOn(ana.page);

  // Ben opens a conversation with Ana and writes while she is in her desk room.
  await ben.page.getByLabel("Message", { exact: true }).fill(ana.name);
  await ben.page.getByRole("button", { name: "Open conversation" }).click();
  await expectLive(ben.page);
  const dmId = Number(new URL(ben.page.url()).pathname.split("/").pop());
  await say(ben.page, "psst, a word");
  await expect.poll(() => notes(ana.page)).toEqual([{ title: ben.name, body: "psst, a word", tag: `minitalk-room-${dmId}` }]);

  // Looking at the conversation: what arrives there notifies nobody.
  const sidebar = ana.page.getByRole("navigation", { name: "Rooms and conversations" });
  await sidebar.getByRole("link", { name: ben.name }).click();
  await expect(ana.page.getByLabel("Notify me of")).toHaveValue("all");
  await say(ben.page, "now you are here");
  await expect(messageItems(ana.page).filter({ hasText: "now you are here" })).toHaveCount(1);
  await ana.page.waitForTimeout(1_500); // three times the user stream's coalescing period
  expect(await notes(ana.page)).toHaveLength(1);

  // Back in the desk: the next one notifies, and clicking it opens the conversation at that message.
  await gotoHydrated(ana.page, `/rooms/${deskId}`);
  await say(ben.page, "come back please");
  await expect.poll(async () => (await notes(ana.page)).map((n) => n.body)).toContain("come back please");
  await ana.page.evaluate(() => {
    const shown = (window as unknown as { __notes: { body: string; onclick: () => void }[] }).__notes;
    shown.find((n) => n.body === "come back please")!.onclick();
  });
  await expect(ana.page).toHaveURL(new RegExp(`/rooms/${dmId}\\?at=\\d+$`));
  const focused = messageItems(ana.page).filter({ hasText: "come back please" });
  await expect(focused).toHaveClass(/focused/);
  await expect(focused).toBeInViewport();
  await ana.page.screenshot({ path: path.join(SCREENS, "notification-opened-at-message.png"), fullPage: true });

  await ana.context.close();
  await ben.context.close();
});

test("a room notifies of mentions by default, and a muted room of nothing", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  await ana.context.addInitScript(fakeNotifications);
  await gotoHydrated(ana.page, "/");
  const hall = unique("Hall ");
  const hallId = await createRoom(ana.page, hall);
  const level = ana.page.getByLabel("Notify me of");
  await expect(level).toHaveValue("mentions");
  await ana.page.screenshot({ path: path.join(SCREENS, "room-notify-level.png"), fullPage: true });
  await gotoHydrated(ana.page, "/");
  const deskId = await createRoom(ana.page, unique("Desk "));
  await turnOn(ana.page);

  await joinAt(ben.page, hallId);
  await say(ben.page, "just chatting");
  await say(ben.page, `hello @${ana.name}, a question`);
  await expect.poll(() => notes(ana.page)).toEqual([
    { title: `${ben.name} in #${hall}`, body: `hello @${ana.name}, a question`, tag: `minitalk-room-${hallId}` },
  ]);

  // Muted: even a mention stays quiet (the badge still counts it). The choice is the server's: a fresh load
  // of the room shows it.
  await gotoHydrated(ana.page, `/rooms/${hallId}`);
  await Promise.all([
    ana.page.waitForResponse((r) => r.url().includes("/api/set_notify_level") && r.ok()),
    level.selectOption("nothing"),
  ]);
  await gotoHydrated(ana.page, `/rooms/${hallId}`);
  await expect(level).toHaveValue("nothing");
  await gotoHydrated(ana.page, `/rooms/${deskId}`);
  await expectLive(ana.page);
  await say(ben.page, `@${ana.name} are you there?`);
  const hallRow = ana.page.getByRole("navigation", { name: "Rooms and conversations" }).getByRole("link", { name: new RegExp(hall) });
  await expect(hallRow.getByLabel("1 unread", { exact: true })).toBeVisible();
  await expect(hallRow.getByLabel("1 unread mention of you")).toBeVisible();
  await ana.page.waitForTimeout(1_500); // three times the user stream's coalescing period
  expect(await notes(ana.page), "none since this page loaded").toEqual([]);

  await ana.context.close();
  await ben.context.close();
});
