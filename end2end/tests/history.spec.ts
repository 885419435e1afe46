// History: in order after a reload, and paged back with "Load older" without a gap or a duplicate.
import { expect, test } from "@playwright/test";
import { createRoom, expectLive, hydrated, messageItems, messageLog, person, seedMessages, shownSeqs, unique } from "./helpers";

test("a reload keeps the history in order and Load older pages back through 250 messages", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const room = unique("Archive ");
  const roomId = await createRoom(ana.page, room);

  await seedMessages(ana.page, roomId, 250, "seeded");
  // They arrive live, too.
  await expect(messageItems(ana.page)).toHaveCount(250);

  await ana.page.reload();
  await hydrated(ana.page);
  await expectLive(ana.page);
  // The newest page: 100 messages, seqs 151..250 in order.
  await expect(messageItems(ana.page)).toHaveCount(100);
  expect(await shownSeqs(ana.page)).toEqual(range(151, 250));

  const older = ana.page.getByRole("button", { name: "Load older" });
  await older.click();
  await expect(messageItems(ana.page)).toHaveCount(200);
  await older.click();
  await expect(messageItems(ana.page)).toHaveCount(250);
  await expect(older).toBeHidden();
  await expect(ana.page.getByText("This is the start of the room.")).toBeVisible();

  expect(await shownSeqs(ana.page)).toEqual(range(1, 250));
  const texts = await messageItems(ana.page).locator(".msg-text").allTextContents();
  expect(new Set(texts)).toEqual(new Set(range(1, 250).map((i) => `seeded ${i}`)));

  await ana.context.close();
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
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

  // Paging back keeps the oldest shown message where the reader saw it.
  await log.evaluate((el) => (el.scrollTop = 0));
  const firstShown = messageItems(ana.page).first();
  const seqBefore = await firstShown.getAttribute("data-seq");
  await ana.page.getByRole("button", { name: "Load older" }).click();
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
