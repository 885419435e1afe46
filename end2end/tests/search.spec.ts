// Search, as a person uses it: words from the header's Search page find a message in their rooms (never in a
// room they are not in), and a hit opens the room at that message, far back in its history.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, expectLive, gotoHydrated, messageLog, person, say, seedMessages, unique } from "./helpers";

test("a search finds a message of your rooms and opens the room at it", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const eve = await person(browser, "eve");
  const problems = collectProblems(ana.page);
  const word = `saffron${Date.now().toString(36)}`;
  const roomName = unique("Cooking ");
  const roomId = await createRoom(ana.page, roomName);
  await say(ana.page, `the secret ingredient is ${word}`);
  // Far enough back that the room's newest page does not hold it.
  await seedMessages(ana.page, roomId, 150, "chatter");
  await createRoom(eve.page, unique("Eve's own "));
  await say(eve.page, `${word} for eve only`);

  await ana.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Search" }).click();
  await expect(ana.page.getByRole("heading", { name: "Search messages" })).toBeVisible();
  const hits = ana.page.locator(".search-hit");
  // The index follows the store within about a second: search again until it has caught up.
  await expect(async () => {
    await ana.page.getByRole("searchbox", { name: "Words" }).fill(word);
    await ana.page.getByRole("button", { name: "Search" }).click();
    await expect(hits).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(hits.first()).toContainText(`the secret ingredient is ${word}`);
  await expect(hits.first()).toContainText(roomName);
  await expect(ana.page.getByText("eve only")).toHaveCount(0);
  await ana.page.screenshot({ path: path.join(SCREENS, "search-results.png"), fullPage: true });

  // Filters by a sender who did not write it: nothing.
  await ana.page.getByLabel("From").fill(eve.name);
  await ana.page.getByRole("button", { name: "Search" }).click();
  await expect(ana.page.getByRole("status").filter({ hasText: "No messages found." })).toBeVisible();
  await ana.page.goBack();
  await expect(hits).toHaveCount(1);

  // The hit opens the room at the message, in its context, highlighted.
  await hits.first().getByRole("link").click();
  await expect(ana.page).toHaveURL(new RegExp(`/rooms/${roomId}\\?at=\\d+`));
  await expectLive(ana.page);
  const found = messageLog(ana.page).locator("li.focused");
  await expect(found).toContainText(word);
  await expect(found).toBeInViewport();
  await ana.page.screenshot({ path: path.join(SCREENS, "search-opened-at-hit.png"), fullPage: true });
  expect(problems).toEqual([]);

  await gotoHydrated(eve.page, "/search?q=" + word);
  await expect(eve.page.locator(".search-hit")).toHaveCount(1);
  await expect(eve.page.locator(".search-hit")).toContainText("eve only");

  await ana.context.close();
  await eve.context.close();
});
