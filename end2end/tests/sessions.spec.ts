// Sessions end everywhere at once, and the room directory is searched rather than listed whole.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { PASSWORD, SCREENS, createRoom, expectLive, gotoHydrated, person, unique } from "./helpers";

test("signing out everywhere sends the person's other browser to the sign-in page", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const room = unique("Both ");
  await createRoom(ana.page, room);

  // The same person in a second browser, with the room open and live.
  const phone = await browser.newContext();
  const phonePage = await phone.newPage();
  await gotoHydrated(phonePage, "/login");
  await phonePage.getByLabel("Username").fill(ana.name);
  await phonePage.getByLabel("Password").fill(PASSWORD);
  await phonePage.getByRole("button", { name: "Sign in" }).click();
  await expect(phonePage).toHaveURL(/\/$/);
  await gotoHydrated(phonePage, ana.page.url());
  await expectLive(phonePage);

  await ana.page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(ana.page).toHaveURL(/\/login$/);
  // The other browser is told by its socket, without a reload or a click.
  await expect(phonePage).toHaveURL(/\/login$/, { timeout: 15_000 });
  await phonePage.screenshot({ path: path.join(SCREENS, "signed-out-elsewhere.png"), fullPage: true });
  await gotoHydrated(phonePage, "/");
  await expect(phonePage).toHaveURL(/\/login$/);

  await ana.context.close();
  await phone.close();
});

test("the room directory finds a room by part of its name, and pages", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const tag = unique("Needle");
  await createRoom(ana.page, `${tag} haystack`);
  // Enough other rooms that the first page of the directory cannot show them all.
  for (let i = 0; i < 21; i++) {
    await gotoHydrated(ana.page, "/");
    await createRoom(ana.page, unique(`Hay${i} `));
  }

  await gotoHydrated(ben.page, "/");
  const directory = ben.page.getByRole("region", { name: "Find a room" });
  await expect(directory.getByRole("button", { name: /^Join / })).toHaveCount(20);
  await directory.getByRole("button", { name: "More rooms" }).click();
  await expect(directory.getByRole("button", { name: `Join ${tag} haystack` })).toBeVisible();

  await directory.getByLabel("Search rooms by name").fill(tag.toLowerCase());
  await directory.getByRole("button", { name: "Search", exact: true }).click();
  await expect(directory.getByRole("button", { name: /^Join / })).toHaveCount(1);
  await ben.page.screenshot({ path: path.join(SCREENS, "room-directory.png"), fullPage: true });
  await directory.getByRole("button", { name: `Join ${tag} haystack` }).click();
  await expectLive(ben.page);

  await ana.context.close();
  await ben.context.close();
});
