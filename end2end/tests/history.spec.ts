// History: in order after a reload, and paged back by scrolling up without a gap or a duplicate, in a
// bounded list.
import * as path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { SCREENS, createRoom, expectLive, hydrated, messageItems, messageLog, person, seedMessages, shownSeqs, unique } from "./helpers";

test("a reload keeps the history in order and scrolling up pages back through 250 messages", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const room = unique("Archive ");
  const roomId = await createRoom(ana.page, room);

  await seedMessages(ana.page, roomId, 250, "seeded");
  // They arrive live, too (a flood: the newest screenful is drawn, the rest is a scroll away).
  await expect(messageItems(ana.page).last()).toHaveAttribute("data-seq", "250");

  await ana.page.reload();
  await hydrated(ana.page);
  await expectLive(ana.page);
  // The newest page: 100 messages, seqs 151..250 in order.
  await expect(messageItems(ana.page)).toHaveCount(100);
  expect(await shownSeqs(ana.page)).toEqual(range(151, 250));

  await scrollToTop(ana.page);
  await expect(messageItems(ana.page)).toHaveCount(200);
  await scrollToTop(ana.page);
  await expect(messageItems(ana.page)).toHaveCount(250);
  await expect(ana.page.getByText("Scroll up for older messages.")).toBeHidden();
  await expect(ana.page.getByText("This is the start of the room.")).toBeVisible();

  expect(await shownSeqs(ana.page)).toEqual(range(1, 250));
  const texts = await messageItems(ana.page).locator(".msg-text").allTextContents();
  expect(new Set(texts)).toEqual(new Set(range(1, 250).map((i) => `seeded ${i}`)));

  await ana.context.close();
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Scrolls the message list to its top once the page before has finished loading (and put the view back). */
async function scrollToTop(page: Page): Promise<void> {
  await expect(page.getByText("Loading older messages…")).toBeHidden();
  await messageLog(page).evaluate((el) => (el.scrollTop = 0));
}

test("the list follows new messages only while the reader is at the bottom", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Scroll "));
  await seedMessages(ana.page, roomId, 150, "line");
  await ana.page.reload();
  await hydrated(ana.page);
  await expectLive(ana.page);
  const log = messageLog(ana.page);

  // Opened at the newest message.
  await expect(messageItems(ana.page).last()).toBeInViewport();

  // Paging back (by scrolling to the top) keeps the oldest shown message where the reader saw it.
  const seqBefore = await messageItems(ana.page).first().getAttribute("data-seq");
  await scrollToTop(ana.page);
  await expect(messageItems(ana.page)).toHaveCount(150);
  await expect(log.locator(`li[data-seq="${seqBefore}"]`)).toBeInViewport();

  // Reading older messages: a new one arrives and the view does not jump.
  const before = await log.evaluate((el) => el.scrollTop);
  await seedMessages(ana.page, roomId, 1, "while-reading");
  await expect(messageItems(ana.page)).toHaveCount(151);
  await ana.page.waitForTimeout(300); // give a wrong scroll the chance to happen
  expect(await log.evaluate((el) => el.scrollTop)).toBe(before);
  await expect(messageItems(ana.page).last()).not.toBeInViewport();

  // Back at the bottom: new messages stay in view.
  await log.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await seedMessages(ana.page, roomId, 1, "at-bottom");
  await expect(messageItems(ana.page)).toHaveCount(152);
  await expect(messageItems(ana.page).last()).toContainText("at-bottom 1");
  await expect(messageItems(ana.page).last()).toBeInViewport();

  await ana.context.close();
});

test("a reader scrolling up in small steps stops following once past the slack", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Steps "));
  await expectLive(ana.page);
  // Opened on them (sixty at once are a flood, drawn a screenful at a time).
  await seedMessages(ana.page, roomId, 60, "line");
  await ana.page.reload();
  await hydrated(ana.page);
  await expectLive(ana.page);
  await expect(messageItems(ana.page)).toHaveCount(60);
  await expect(messageItems(ana.page).last()).toBeInViewport();
  const log = messageLog(ana.page);
  const scrollUp = (px: number) =>
    log.evaluate(
      (el, px) =>
        new Promise<void>((resolve) => {
          el.addEventListener("scroll", () => requestAnimationFrame(() => resolve()), { once: true });
          el.scrollTop -= px;
        }),
      px,
    );

  // A nudge within the slack (48 px) keeps the list following.
  await scrollUp(20);
  await seedMessages(ana.page, roomId, 1, "nudged");
  await expect(messageItems(ana.page).last()).toContainText("nudged 1");
  await expect(messageItems(ana.page).last()).toBeInViewport();

  // Small steps add up: three of 20 px leave the bottom, and the view stays where the reader put it.
  await expect.poll(() => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)).toBeLessThan(2);
  for (let step = 0; step < 3; step++) await scrollUp(20);
  const top = await log.evaluate((el) => el.scrollTop);
  await seedMessages(ana.page, roomId, 1, "away");
  await expect(messageItems(ana.page).last()).toContainText("away 1");
  await ana.page.waitForTimeout(300); // give a wrong scroll the chance to happen
  expect(await log.evaluate((el) => el.scrollTop)).toBe(top);
  await expect(messageItems(ana.page).last()).not.toBeInViewport();

  await ana.context.close();
});

test("scrolling up through a long history keeps the list bounded, and the newest come back without a gap", async ({
  browser,
}) => {
  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Long "));
  await seedMessages(ana.page, roomId, 450, "old");
  await ana.page.reload();
  await hydrated(ana.page);
  await expectLive(ana.page);
  const log = messageLog(ana.page);
  const elements = () => ana.page.evaluate(() => document.getElementsByTagName("*").length);

  // Each scroll to the top loads the page before, and the row that was the oldest stays in view.
  const pages: [number, number][] = [
    [251, 450],
    [151, 450],
    // The window is full (300): the newest are dropped as older ones come in.
    [51, 350],
    [1, 300],
  ];
  let elementsWhenFull = 0;
  for (const [first, last] of pages) {
    const oldest = await messageItems(ana.page).first().getAttribute("data-seq");
    await scrollToTop(ana.page);
    await expect(log.locator("li[data-seq]").first()).toHaveAttribute("data-seq", String(first));
    expect(await shownSeqs(ana.page)).toEqual(range(first, last));
    await expect(log.locator(`li[data-seq="${oldest}"]`)).toBeInViewport();
    if (last === 450 && first === 151) elementsWhenFull = await elements();
  }
  await expect(ana.page.getByText("This is the start of the room.")).toBeVisible();
  // Bounded: 300 rows, whatever was paged through; only the "new messages" bar was added.
  expect(await elements()).toBeLessThanOrEqual(elementsWhenFull + 10);
  await expect(ana.page.getByText("150 new messages")).toBeVisible();

  // Messages that arrive while reading back only count; the jump brings back the newest, gapless.
  await seedMessages(ana.page, roomId, 5, "late");
  await expect(ana.page.getByText("155 new messages")).toBeVisible();
  await ana.page.getByRole("button", { name: "Jump to latest" }).click();
  await expect(messageItems(ana.page).last()).toContainText("late 5");
  const seqs = await shownSeqs(ana.page);
  expect(seqs).toEqual(range(seqs[0], 455));
  await expect(messageItems(ana.page).last()).toBeInViewport();

  await ana.context.close();
});

test("a reader at the bottom of a busy room keeps following it past the window", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Busy "));
  await expectLive(ana.page);
  // Hundreds of messages arrive within a few frames: rows land after the list's last scroll to the
  // bottom, which must not read as the reader scrolling away (the window would detach at 300).
  await seedMessages(ana.page, roomId, 700, "rush");
  // (Sends the server asked to repeat later are stored later: seq 700 is not always "rush 700".)
  await expect(messageItems(ana.page).last()).toHaveAttribute("data-seq", "700");
  await expect(messageItems(ana.page).last()).toBeInViewport();
  await expect(ana.page.getByRole("button", { name: "Jump to latest" })).toBeHidden();
  // The newest, gapless, at most the window (300). Many in one redraw are a flood, of which only a
  // screenful is drawn (the rest would have scrolled past unseen); reading back draws or loads the
  // ones before, gapless.
  const seqs = await shownSeqs(ana.page);
  expect(seqs).toEqual(range(seqs[0], 700));
  expect(seqs.length).toBeLessThanOrEqual(300);
  await scrollToTop(ana.page);
  await expect.poll(async () => (await shownSeqs(ana.page))[0]).toBeLessThan(seqs[0]);
  const back = await shownSeqs(ana.page);
  expect(back).toEqual(range(back[0], back[back.length - 1]));

  await ana.context.close();
});

test("a flood is drawn a screenful at a time, and scrolling up draws the rest from memory", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const roomId = await createRoom(ana.page, unique("Flood "));
  await expectLive(ana.page);
  const historyCalls: string[] = [];
  ana.page.on("request", (request) => {
    if (request.url().includes("/api/history")) historyCalls.push(request.url());
  });
  // 150 at once (within the sender's burst): far more in one redraw than the view shows.
  await seedMessages(ana.page, roomId, 150, "flood");
  await expect(messageItems(ana.page).last()).toHaveAttribute("data-seq", "150");
  await expect(messageItems(ana.page).last()).toBeInViewport();
  const drawn = await shownSeqs(ana.page);
  expect(drawn).toEqual(range(drawn[0], 150));
  expect(drawn.length).toBeLessThan(100);
  await ana.page.screenshot({ path: path.join(SCREENS, "room-after-a-flood.png") });
  // Held, not lost: scrolling up draws the rest without asking the server (a page at a time, each
  // scroll to the top), down to the start.
  await expect(async () => {
    await scrollToTop(ana.page);
    await expect(ana.page.getByText("This is the start of the room.")).toBeVisible({ timeout: 1_000 });
  }).toPass();
  expect(await shownSeqs(ana.page)).toEqual(range(1, 150));
  expect(historyCalls).toEqual([]);

  await ana.context.close();
});
