// Web chat for the sandbox: be one of the personas (or a new user) and talk to the bot as on Telegram, or as
// on Zalo (a text-only phone: no buttons, numbered menus, 2,000-character bubbles).
// No framework, no external requests. Bot text is Telegram HTML, rendered through a tag whitelist; Zalo text
// is plain.
"use strict";

const UI = {
  vi: {
    pick: "Chọn vai để trò chuyện với bot", hint: "Mở nhiều thẻ để đóng nhiều vai cùng lúc.",
    newUser: "Người dùng mới", newUserHint: "Chưa đăng ký — bắt đầu từ /start", placeholder: "Nhập tin nhắn…",
    switch: "Đổi vai", phone: "Nhập số điện thoại để chia sẻ:", download: "Tải về", failed: "Không gửi được",
    stale: "Nút này không còn hiệu lực.", you: "Bạn là", newZalo: "Người dùng Zalo mới",
    newZaloHint: "Điện thoại chỉ có chữ: gõ số để chọn", zaloTag: "Zalo", tgTag: "Telegram",
  },
  en: {
    pick: "Choose who you are", hint: "Open several tabs to be several people at once.",
    newUser: "New user", newUserHint: "Not registered — starts at /start", placeholder: "Type a message…",
    switch: "Switch persona", phone: "Type the phone number to share:", download: "Download", failed: "Could not send",
    stale: "This button is no longer active.", you: "You are", newZalo: "New Zalo user",
    newZaloHint: "Text-only phone: type numbers to choose", zaloTag: "Zalo", tgTag: "Telegram",
  },
};
let lang = localStorage.getItem("sandbox-lang") || "vi";
let me = null;          // {id, first_name, language_code, label, phone, channel, zalo_id}
let replaying = false;  // the first answer after choosing replays the history: its toasts are not shown again
const ZALO_MAX = 2000;
const isZalo = () => Boolean(me && me.channel === "zalo");
let after = 0;          // last event seq seen
let personas = [];
const bubbles = new Map();  // message_id → element
const $ = (id) => document.getElementById(id);
const t = (key) => UI[lang][key];

async function api(path, body) {
  const res = await fetch(path, body instanceof FormData ? {method: "POST", body}
    : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!res.ok) throw new Error(await res.text());
  return res.json();
}

// --- Telegram HTML → DOM, whitelisted -------------------------------------------------------------
const TAGS = {B: "b", STRONG: "b", I: "i", EM: "i", U: "u", INS: "u", S: "s", STRIKE: "s", DEL: "s",
              CODE: "code", PRE: "pre", BLOCKQUOTE: "blockquote"};
function renderHtml(text, parseMode) {
  const out = document.createElement("div");
  if ((parseMode || "").toUpperCase() !== "HTML") { out.textContent = text; return out; }
  const doc = new DOMParser().parseFromString(`<body>${text.replace(/\n/g, "<br>")}</body>`, "text/html");
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) { to.appendChild(document.createTextNode(node.textContent)); continue; }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      let el;
      if (node.tagName === "BR") { to.appendChild(document.createElement("br")); continue; }
      if (TAGS[node.tagName]) el = document.createElement(TAGS[node.tagName]);
      else if (node.tagName === "A") {
        el = document.createElement("a");
        const href = node.getAttribute("href") || "";
        if (/^(https?:|tg:)/i.test(href)) { el.href = href; el.target = "_blank"; el.rel = "noopener noreferrer"; }
      } else if (node.tagName === "TG-SPOILER" || (node.tagName === "SPAN" && node.classList.contains("tg-spoiler"))) {
        el = document.createElement("span"); el.className = "spoiler";
      } else { el = document.createElement("span"); }  // unknown tag: keep its text only
      copy(node, el);
      to.appendChild(el);
    }
  };
  copy(doc.body, out);
  return out;
}

// --- rendering --------------------------------------------------------------------------------------
function scroll() { const m = $("messages"); m.scrollTop = m.scrollHeight; }

function stamp(el, seconds) {
  const when = seconds ? new Date(seconds * 1000) : new Date();
  let s = el.querySelector(":scope > time");
  if (!s) { s = document.createElement("time"); s.dataset.testid = "time"; }
  s.dateTime = when.toISOString();
  s.textContent = when.toLocaleTimeString(lang === "vi" ? "vi-VN" : "en-GB", {hour: "2-digit", minute: "2-digit"});
  el.appendChild(s);
}

function inlineKeyboard(msg) {
  const rows = (msg.reply_markup && msg.reply_markup.inline_keyboard) || [];
  if (!rows.length) return null;
  const box = document.createElement("div"); box.className = "keyboard";
  for (const row of rows) {
    const r = document.createElement("div"); r.className = "row";
    for (const b of row) {
      const btn = document.createElement("button");
      btn.type = "button"; btn.className = "inline-btn"; btn.textContent = b.text;
      btn.dataset.testid = "inline-btn";
      if (b.url) btn.onclick = () => window.open(b.url, "_blank", "noopener");
      else btn.onclick = () => api("/sandbox/api/press", {user: me.id, message_id: msg.message_id, data: b.callback_data})
        .catch(() => toast(t("stale")));
      r.appendChild(btn);
    }
    box.appendChild(r);
  }
  return box;
}

function fillBubble(el, event) {
  const msg = event.message;
  el.replaceChildren();
  if (msg.photo) {
    const img = document.createElement("img");
    img.src = `/sandbox/api/file/${encodeURIComponent(msg.photo[msg.photo.length - 1].file_id)}`;
    el.appendChild(img);
  }
  if (msg.document) {
    const a = document.createElement("a");
    a.href = `/sandbox/api/file/${encodeURIComponent(msg.document.file_id)}`;
    a.textContent = `📄 ${msg.document.file_name || "file"} — ${t("download")}`;
    a.className = "download"; a.setAttribute("download", msg.document.file_name || "file");
    el.appendChild(a);
  }
  const text = msg.text || msg.caption;
  if (text) el.appendChild(renderHtml(text, event.parse_mode || el.dataset.parseMode));
  if (event.parse_mode) el.dataset.parseMode = event.parse_mode;
  const kb = inlineKeyboard(msg);
  if (kb) el.appendChild(kb);
}

function replyKeyboard(markup) {
  const box = $("reply-keyboard");
  if (!markup) return;
  if (markup.remove_keyboard) { box.replaceChildren(); return; }
  if (!markup.keyboard) return;
  box.replaceChildren();
  for (const row of markup.keyboard) {
    const r = document.createElement("div"); r.className = "row";
    for (const b of row) {
      const btn = document.createElement("button");
      btn.type = "button"; btn.className = "reply-btn"; btn.textContent = b.text; btn.dataset.testid = "reply-btn";
      btn.onclick = async () => {
        if (b.request_contact) {
          const phone = me.phone || window.prompt(t("phone"), "");
          if (phone) await api("/sandbox/api/contact", {user: me.id, phone, first_name: me.first_name});
        } else {
          await api("/sandbox/api/send", {user: me.id, text: b.text, first_name: me.first_name,
                                           language_code: me.language_code});
        }
        if (markup.one_time_keyboard) box.replaceChildren();
      };
      r.appendChild(btn);
    }
    box.appendChild(r);
  }
}

function toast(text) {
  if (!text) return;
  const el = $("toast"); el.textContent = text; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

function handleZalo(event) {
  const el = document.createElement("div");
  if (event.kind === "user") {
    el.className = "msg user";
    el.textContent = event.text || (event.sticker ? "🙂" : event.photo ? "🖼" : event.event_name || "");
  } else {
    el.className = "msg bot"; el.dataset.testid = "bot-message";
    if (event.photo) {
      const img = document.createElement("img"); img.src = event.photo; img.alt = ""; el.appendChild(img);
    }
    const text = document.createElement("div");
    text.textContent = event.text || event.caption || (event.sticker ? "🙂" : "");
    el.appendChild(text);
  }
  stamp(el, event.date);
  $("messages").appendChild(el);
  scroll();
}

function handle(event) {
  if (isZalo()) { handleZalo(event); return; }
  if (event.kind === "user") {
    const el = document.createElement("div"); el.className = "msg user"; el.textContent = event.text;
    stamp(el, event.date);
    $("messages").appendChild(el);
  } else if (event.kind === "toast") {
    if (!replaying) toast(event.text);
  } else if (event.kind === "delete") {
    const el = bubbles.get(event.message.message_id); if (el) el.remove();
  } else {
    let el = bubbles.get(event.message.message_id);
    if (!el) {
      el = document.createElement("div"); el.className = "msg bot"; el.dataset.testid = "bot-message";
      bubbles.set(event.message.message_id, el); $("messages").appendChild(el);
    }
    fillBubble(el, event);
    stamp(el, event.message.edit_date || event.message.date);
    if (event.kind !== "edit") replyKeyboard(event.markup);
  }
  scroll();
}

function eventsUrl(wait) {
  return isZalo() ? `/sandbox/api/zalo/events?user=${encodeURIComponent(me.zalo_id)}&after=${after}&wait=${wait}`
    : `/sandbox/api/events?user=${me.id}&after=${after}&wait=${wait}`;
}

async function poll() {
  const who = me;
  replaying = true;  // the first request asks for the history at once (wait=0); only that is a replay
  while (me === who) {
    try {
      const res = await fetch(eventsUrl(replaying ? 0 : 25));
      const body = await res.json();
      if (me !== who) return;
      for (const e of body.events) { after = Math.max(after, e.seq); handle(e); }
      replaying = false;
    } catch (err) { await new Promise((r) => setTimeout(r, 1500)); }
  }
}

// --- personas -----------------------------------------------------------------------------------------
function choose(persona) {
  me = persona; after = 0; bubbles.clear();
  $("messages").replaceChildren(); $("reply-keyboard").replaceChildren();
  location.hash = isZalo() ? `zalo=${persona.zalo_id}` : `user=${persona.id}`;
  $("personas").hidden = true; $("chat").hidden = false; $("switch").hidden = false;
  $("who").textContent = `${t("you")}: ${persona.label || persona.first_name}`;
  $("who").title = $("who").textContent;
  document.body.classList.toggle("zalo", isZalo());
  $("channel").hidden = false; $("channel").textContent = isZalo() ? t("zaloTag") : t("tgTag");
  $("composer-input").maxLength = isZalo() ? ZALO_MAX : 4096;
  $("file").disabled = isZalo();
  updateCounter();
  $("composer-input").focus();
  poll();
}

function labelOf(p) { return (lang === "en" && p.label_en) || p.label || p.first_name; }

function showPersonas() {
  me = null; document.body.classList.remove("zalo"); $("channel").hidden = true; $("personas").hidden = false; $("chat").hidden = true; $("switch").hidden = true; $("who").textContent = "";
  history.replaceState(null, "", location.pathname);
  const list = $("persona-list"); list.replaceChildren();
  for (const p of personas) {
    const b = document.createElement("button"); b.className = "persona"; b.type = "button";
    b.dataset.testid = `persona-${p.id}`;
    if (p.channel === "zalo") b.classList.add("on-zalo");
    b.append(labelOf(p)); const s = document.createElement("small");
    s.textContent = `${p.first_name} · ${p.channel === "zalo" ? `${t("zaloTag")} ${p.zalo_id}` : `#${p.id}`}`;
    b.appendChild(s);
    b.onclick = () => choose({...p, label: labelOf(p)});
    list.appendChild(b);
  }
  const fresh = document.createElement("button"); fresh.className = "persona"; fresh.type = "button";
  fresh.dataset.testid = "persona-new";
  fresh.append(t("newUser")); const s = document.createElement("small"); s.textContent = t("newUserHint");
  fresh.appendChild(s);
  fresh.onclick = () => {
    const id = 500000 + Math.floor(Math.random() * 400000);
    choose({id, first_name: lang === "en" ? "Guest" : "Khách", language_code: lang, label: `${t("newUser")} #${id}`});
  };
  list.appendChild(fresh);
  const zalo = document.createElement("button"); zalo.className = "persona on-zalo"; zalo.type = "button";
  zalo.dataset.testid = "persona-new-zalo";
  zalo.append(t("newZalo")); const z = document.createElement("small"); z.textContent = t("newZaloHint");
  zalo.appendChild(z);
  zalo.onclick = () => {
    const hex = Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) => b.toString(16).padStart(2, "0")).join("");
    choose({id: 0, channel: "zalo", zalo_id: hex, first_name: lang === "en" ? "Guest" : "Khách",
            label: `${t("newZalo")} ${hex.slice(0, 6)}`});
  };
  list.appendChild(zalo);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  $("lang").textContent = lang === "vi" ? "EN" : "VI";
  $("pick-title").textContent = t("pick"); $("pick-hint").textContent = t("hint");
  $("composer-input").placeholder = t("placeholder"); $("switch").textContent = t("switch");
}

$("lang").onclick = () => {
  lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("sandbox-lang", lang); applyLanguage();
  if (!me) showPersonas();
};
$("switch").onclick = () => showPersonas();
function updateCounter() {
  const input = $("composer-input"); const c = $("counter");
  c.hidden = !isZalo(); c.textContent = `${input.value.length}/${ZALO_MAX}`;
  input.style.height = "auto"; input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

async function sendText(text) {
  if (isZalo()) {
    await api("/sandbox/api/zalo/send", {user: me.zalo_id, text, display_name: me.first_name});
  } else {
    await api("/sandbox/api/send", {user: me.id, text, first_name: me.first_name, language_code: me.language_code});
  }
}

$("composer").onsubmit = async (ev) => {
  ev.preventDefault();
  const input = $("composer-input"); const text = input.value;
  if (!text.trim() || !me) return;
  input.value = ""; updateCounter();
  try { await sendText(text); } catch (err) { toast(t("failed")); input.value = text; updateCounter(); }
};
// Enter sends, Shift+Enter starts a new line (and Enter while an input method composes does nothing).
$("composer-input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
});
$("composer-input").addEventListener("input", updateCounter);
$("file").onchange = async () => {
  const f = $("file").files[0]; if (!f || !me) return;
  const form = new FormData(); form.append("user", String(me.id)); form.append("file", f, f.name);
  try { await api("/sandbox/api/upload", form); } catch (err) { toast(t("failed")); }
  $("file").value = "";
};

(async () => {
  applyLanguage();
  const body = await (await fetch("/sandbox/api/personas")).json();
  personas = body.personas;
  document.title = `@${body.bot.username} — sandbox`;
  const z = /zalo=([0-9a-f]+)/i.exec(location.hash);
  const m = /user=(\d+)/.exec(location.hash);
  if (z) {
    const p = personas.find((x) => x.zalo_id === z[1]);
    choose(p ? {...p, label: labelOf(p)} : {id: 0, channel: "zalo", zalo_id: z[1], first_name: "Khách",
                                           label: `${t("newZalo")} ${z[1].slice(0, 6)}`});
  } else if (m) {
    const id = Number(m[1]);
    const p = personas.find((x) => x.id === id);
    choose(p ? {...p, label: labelOf(p)} : {id, first_name: "Khách", language_code: lang, label: `#${id}`});
  } else showPersonas();
})();
