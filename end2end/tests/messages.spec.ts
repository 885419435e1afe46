// Editing and deleting messages, as people do it: the author fixes a typo, an owner removes a message, and
// the other person sees both at once and after a reload.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, expectLive, gotoHydrated, joinAt, messageItems, messageLog, person, say, unique } from "./helpers";

test("an edit and a deletion are seen live by the other person and after a reload", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const problems = collectProblems(ben.page);
  const roomId = await createRoom(ana.page, unique("Typos "));
  await joinAt(ben.page, roomId);

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

test("Markdown renders, a link opens safely, and HTML and javascript: links stay inert", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const problems = collectProblems(ana.page);
  let dialogs = 0;
  ana.page.on("dialog", async (dialog) => {
    dialogs += 1;
    await dialog.dismiss();
  });
  const roomId = await createRoom(ana.page, unique("Format "));
  await joinAt(ben.page, roomId);

  await say(
    ben.page,
    "**bold** and `x < y` and https://example.org/a?b=1 and [bad](javascript:alert(1)) <script>window.pwned=1</script><img src=x onerror=alert(2)>",
  );
  await say(ben.page, "> a quote\n\nafter it");
  const rich = messageItems(ana.page).filter({ hasText: "bold and" });
  await expect(rich.locator("strong")).toHaveText("bold");
  await expect(rich.locator("code")).toHaveText("x < y");
  const link = rich.getByRole("link", { name: "https://example.org/a?b=1" });
  await expect(link).toHaveAttribute("href", "https://example.org/a?b=1");
  await expect(link).toHaveAttribute("target", "_blank");
  await expect(link).toHaveAttribute("rel", "noopener noreferrer nofollow");
  // The javascript: link is its text, and the markup is text too.
  await expect(rich.getByRole("link")).toHaveCount(1);
  await expect(rich).toContainText("bad");
  await expect(rich).toContainText("<script>window.pwned=1</script><img src=x onerror=alert(2)>");
  await expect(rich.locator("script, img")).toHaveCount(0);
  const quoted = messageItems(ana.page).filter({ hasText: "a quote" });
  await expect(quoted.locator("blockquote")).toHaveText("a quote");
  await ana.page.screenshot({ path: path.join(SCREENS, "message-markdown.png"), fullPage: true });

  // The same after a reload (the server renders it).
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expect(rich.locator("strong")).toHaveText("bold");
  await expect(rich.getByRole("link")).toHaveCount(1);
  expect(await ana.page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  expect(dialogs).toBe(0);
  expect(problems).toEqual([]);

  await ana.context.close();
  await ben.context.close();
});

test("a mention is completed from the room's members, raises the person's badge and is highlighted for them", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const room = unique("Mentions ");
  const roomId = await createRoom(ana.page, room);
  await joinAt(ben.page, roomId);
  // Ben looks at the list of his rooms, not at this one.
  await gotoHydrated(ben.page, "/");
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expectLive(ana.page);

  const composer = ana.page.getByRole("textbox", { name: "Message" });
  await composer.fill("");
  await composer.pressSequentially(`look @${ben.name.slice(0, 4)}`);
  const offered = ana.page.getByRole("listbox", { name: "Mention someone" });
  await expect(offered.getByRole("option", { name: `@${ben.name}` })).toBeVisible();
  await expect(offered.getByRole("option")).toHaveCount(1);
  await ana.page.screenshot({ path: path.join(SCREENS, "mention-autocomplete.png"), fullPage: true });
  await composer.press("Enter");
  await expect(composer).toHaveValue(`look @${ben.name} `);
  await expect(offered).toHaveCount(0);
  await composer.pressSequentially("here");
  await composer.press("Enter");
  await expect(composer).toHaveValue("");

  const sidebar = ben.page.getByRole("navigation", { name: "Rooms and conversations" });
  await expect(sidebar.getByLabel("1 unread mention of you")).toBeVisible();
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  const mark = messageItems(ben.page).filter({ hasText: "look" }).locator("mark.mention");
  await expect(mark).toHaveText(`@${ben.name}`);
  await ben.page.screenshot({ path: path.join(SCREENS, "mention-highlighted.png"), fullPage: true });

  await ana.context.close();
  await ben.context.close();
});
