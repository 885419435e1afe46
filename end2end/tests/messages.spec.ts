// Editing and deleting messages, as people do it: the author fixes a typo, an owner removes a message, and
// the other person sees both at once and after a reload.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, expectLive, gotoHydrated, messageItems, messageLog, person, say, unique } from "./helpers";

test("an edit and a deletion are seen live by the other person and after a reload", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const problems = collectProblems(ben.page);
  const roomId = await createRoom(ana.page, unique("Typos "));
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  await ben.page.getByRole("button", { name: "Join room" }).click();
  await expectLive(ben.page);

  await say(ben.page, "helo wrold");
  await say(ana.page, "ana was here");
  const bensOnAna = messageItems(ana.page).filter({ hasText: "helo wrold" });
  await expect(bensOnAna).toBeVisible();
  // Ben may edit and delete his own message, and may not delete Ana's (he is no moderator).
  const anasOnBen = messageItems(ben.page).filter({ hasText: "ana was here" });
  await expect(anasOnBen).toBeVisible();
  await expect(anasOnBen.getByRole("button", { name: "Delete message" })).toHaveCount(0);
  await expect(anasOnBen.getByRole("button", { name: "Edit message" })).toHaveCount(0);

  // Found by seq: while it is edited its text is in the editor, not the row.
  const seq = await messageItems(ben.page).filter({ hasText: "helo wrold" }).getAttribute("data-seq");
  const mine = messageLog(ben.page).locator(`li[data-seq="${seq}"]`);
  await mine.hover();
  await mine.getByRole("button", { name: "Edit message" }).click();
  const editor = mine.getByRole("textbox", { name: "Edit message" });
  await expect(editor).toHaveValue("helo wrold");
  await editor.fill("hello <b>world</b>");
  await ben.page.screenshot({ path: path.join(SCREENS, "message-editing.png"), fullPage: true });
  await editor.press("Enter");
  const edited = messageItems(ben.page).filter({ hasText: "hello <b>world</b>" });
  await expect(edited).toContainText("(edited)");
  await expect(edited.locator("b")).toHaveCount(0);

  // Ana sees the edit without a reload, then deletes Ben's message as the room's owner.
  const editedOnAna = messageItems(ana.page).filter({ hasText: "hello <b>world</b>" });
  await expect(editedOnAna).toContainText("(edited)");
  await ana.page.screenshot({ path: path.join(SCREENS, "message-edited.png"), fullPage: true });
  await editedOnAna.hover();
  await editedOnAna.getByRole("button", { name: "Delete message" }).click();
  const confirm = editedOnAna.getByRole("group", { name: "Confirm deletion" });
  await ana.page.screenshot({ path: path.join(SCREENS, "message-delete-confirm.png"), fullPage: true });
  await confirm.getByRole("button", { name: "Delete", exact: true }).click();

  // Both see it gone, in its place, at once and after a reload.
  for (const page of [ben.page, ana.page]) {
    await expect(messageItems(page).filter({ hasText: "Message deleted" })).toHaveCount(1);
    await expect(messageItems(page).filter({ hasText: "world" })).toHaveCount(0);
  }
  await ben.page.screenshot({ path: path.join(SCREENS, "message-deleted.png"), fullPage: true });
  for (const page of [ben.page, ana.page]) {
    await gotoHydrated(page, `/rooms/${roomId}`);
    await expectLive(page);
    await expect(messageItems(page).filter({ hasText: "Message deleted" })).toHaveCount(1);
    await expect(messageItems(page).filter({ hasText: "world" })).toHaveCount(0);
    await expect(messageItems(page).filter({ hasText: "ana was here" })).toHaveCount(1);
  }
  expect(problems).toEqual([]);

  await ana.context.close();
  await ben.context.close();
});
