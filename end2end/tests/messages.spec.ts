// Editing and deleting messages, as people do it: the author fixes a typo, an owner removes a message, and
// the other person sees both at once and after a reload.
import * as path from "node:path";
import { expect, test } from "@playwright/test";
import { SCREENS, collectProblems, createRoom, expectLive, gotoHydrated, joinAt, messageItems, messageLog, person, say, seedMessages, signUp, unique } from "./helpers";

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
  // While the draft is open nothing else on the row can close it: Reply is offered, React is not.
  await expect(mine.getByRole("button", { name: "Reply to message" })).toBeVisible();
  await expect(mine.getByRole("button", { name: "React to message" })).toHaveCount(0);
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
    // Once hydrated (the server cannot know the reader's time zone), one date separator tops
    // today's messages, and each time carries the full date and time as its title.
    await expect(messageLog(page).locator(".day-divider")).toHaveText(["Today"]);
    const shown = messageItems(page).filter({ hasText: "ana was here" }).locator("time");
    await expect(shown).toHaveAttribute("title", new RegExp(String(new Date().getFullYear())));
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

test("a reply quotes its message and leads to it, and a reaction is counted live for both", async ({ browser }) => {
  const ana = await person(browser, "ana");
  const ben = await person(browser, "ben");
  const problems = collectProblems(ana.page);
  const roomId = await createRoom(ana.page, unique("Lunch "));
  await joinAt(ben.page, roomId);

  await say(ana.page, "where shall we eat?");
  const questionOnBen = messageItems(ben.page).filter({ hasText: "where shall we eat?" });
  // By keyboard: the row's actions button, then Tab to Reply (the actions exist from the focus on).
  await questionOnBen.getByRole("button", { name: "Message actions" }).focus();
  await ben.page.keyboard.press("Tab");
  await expect(questionOnBen.getByRole("button", { name: "Reply to message" })).toBeFocused();
  await ben.page.keyboard.press("Enter");
  const replying = ben.page.getByRole("group", { name: "Replying" });
  await expect(replying).toContainText("ana");
  await expect(replying).toContainText("where shall we eat?");
  // Enough after the question that a fresh page does not hold it.
  await seedMessages(ana.page, roomId, 120, "filler");
  await say(ben.page, "the noodle place");
  await expect(replying).toHaveCount(0);

  // The quote says whose message and what it said, live on both sides.
  for (const page of [ben.page, ana.page]) {
    const reply = messageItems(page).filter({ hasText: "the noodle place" });
    await expect(reply.locator(".quote")).toContainText("where shall we eat?");
    await expect(reply.locator(".quote")).toContainText("ana");
  }
  await ben.page.screenshot({ path: path.join(SCREENS, "message-reply.png"), fullPage: true });

  // After a reload the question is far above the newest page: the quote still leads to it.
  await gotoHydrated(ana.page, `/rooms/${roomId}`);
  await expectLive(ana.page);
  const reply = messageItems(ana.page).filter({ hasText: "the noodle place" });
  await expect(reply.locator(".quote")).toContainText("an earlier message");
  await expect(messageItems(ana.page).filter({ hasText: "where shall we eat?" })).toHaveCount(0);
  await reply.getByRole("button", { name: /replies to/ }).click();
  const question = messageItems(ana.page).filter({ hasText: "where shall we eat?" }).first();
  await expect(question).toBeInViewport();
  await expect(question).toHaveClass(/jumped/);
  // Only joins come before it: the list knows it is the room's start (it used to ask for them again and again).
  await expect(ana.page.getByText("This is the start of the room.")).toBeVisible();

  // Ana reacts from the picker; Ben adds his with the pill; both see the count and their own.
  await question.hover();
  await question.getByRole("button", { name: "React to message" }).click();
  await question.getByRole("group", { name: "Pick a reaction" }).getByRole("button", { name: "🎉" }).click();
  // The picker closes once the server took the reaction.
  await expect(messageItems(ana.page).getByRole("group", { name: "Pick a reaction" })).toHaveCount(0);
  const party = (page: typeof ana.page) =>
    messageItems(page)
      .filter({ hasText: "where shall we eat?" })
      .first()
      .getByRole("group", { name: "Reactions" })
      .getByRole("button", { name: /^🎉/ });
  await expect(party(ana.page)).toHaveText("🎉 1");
  await expect(party(ana.page)).toHaveAttribute("aria-pressed", "true");
  // Ben has followed the room past the filler (a flood, drawn a screenful at a time): his reply's
  // quote leads him up to the question, held all along, with the reaction that came meanwhile.
  await messageItems(ben.page)
    .filter({ hasText: "the noodle place" })
    .getByRole("button", { name: /replies to/ })
    .click();
  await expect(messageItems(ben.page).filter({ hasText: "where shall we eat?" }).first()).toBeInViewport();
  await expect(party(ben.page)).toHaveText("🎉 1");
  await expect(party(ben.page)).toHaveAttribute("aria-pressed", "false");
  await party(ben.page).click();
  for (const page of [ana.page, ben.page]) {
    await expect(party(page)).toHaveText("🎉 2");
  }
  await expect(party(ben.page)).toHaveAttribute("aria-pressed", "true");
  await ana.page.screenshot({ path: path.join(SCREENS, "message-reactions.png"), fullPage: true });
  // Ana takes hers back: Ben sees one left, his own.
  await party(ana.page).click();
  await expect(party(ben.page)).toHaveText("🎉 1");
  await expect(party(ana.page)).toHaveAttribute("aria-pressed", "false");

  // Read back from history (a reload, then the quote), the reactions are there too.
  await gotoHydrated(ben.page, `/rooms/${roomId}`);
  await expectLive(ben.page);
  await messageItems(ben.page)
    .filter({ hasText: "the noodle place" })
    .getByRole("button", { name: /replies to/ })
    .click();
  await expect(party(ben.page)).toHaveText("🎉 1");
  await expect(party(ben.page)).toHaveAttribute("aria-pressed", "true");
  expect(problems).toEqual([]);

  await ana.context.close();
  await ben.context.close();
});

test("a reaction the server does not take leaves the picker open and says why", async ({ browser }) => {
  const ana = await person(browser, "ana");
  await createRoom(ana.page, unique("Picky "));
  await say(ana.page, "pick one");
  const row = messageItems(ana.page).filter({ hasText: "pick one" });
  await row.hover();
  await row.getByRole("button", { name: "React to message" }).click();
  const picker = row.getByRole("group", { name: "Pick a reaction" });
  // A proxy answers instead of the server (as while it restarts): a failure page, not the server's JSON.
  await ana.page.route("**/api/react", (route) => route.fulfill({ status: 503, body: "unavailable" }));
  await picker.getByRole("button", { name: "🎉" }).click();
  await expect(row.getByRole("alert")).toHaveText("request failed: no answer from the server; try again");
  await expect(picker).toBeVisible();
  await ana.page.screenshot({ path: path.join(SCREENS, "message-reaction-refused.png"), fullPage: true });
  await expect(row.getByRole("group", { name: "Reactions" })).toHaveCount(0);
  // Once the server answers again, the same choice goes through and the picker closes.
  await ana.page.unroute("**/api/react");
  await picker.getByRole("button", { name: "🎉" }).click();
  await expect(picker).toHaveCount(0);
  await expect(row.getByRole("group", { name: "Reactions" }).getByRole("button", { name: /^🎉/ })).toHaveText("🎉 1");
  await ana.context.close();
});

test("on a phone a tap on a message's ⋯ opens its actions, on a line of their own", async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  await signUp(page, unique("tim"));
  await createRoom(page, unique("Touch "));
  await say(page, "first of two");
  await say(page, "second of two");
  const second = messageItems(page).filter({ hasText: "second of two" });
  await expect(second).toHaveClass(/grouped/);
  // A tap enters the row as well as clicks the button: the actions open and stay open.
  await second.getByRole("button", { name: "Message actions" }).tap();
  const reply = second.getByRole("button", { name: "Reply to message" });
  await expect(reply).toBeVisible();
  await page.waitForTimeout(300);
  await expect(reply).toBeVisible();
  // A grouped message's head sits over its corner; with the actions it takes a line above the text
  // instead of covering the messages around it.
  const replyBox = (await reply.boundingBox())!;
  const textBox = (await second.locator(".msg-text").boundingBox())!;
  expect(replyBox.y + replyBox.height).toBeLessThanOrEqual(textBox.y);
  await page.screenshot({ path: path.join(SCREENS, "message-actions-phone.png") });
  // Reply works from there.
  await reply.tap();
  await expect(page.getByRole("group", { name: "Replying" })).toContainText("second of two");
  await context.close();
});
