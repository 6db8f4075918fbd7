// Web chat for the sandbox: be one of the personas (or a new user) and talk to the bot as on Telegram.
// No framework, no external requests. Bot text is Telegram HTML, rendered through a tag whitelist.
"use strict";

const UI = {
  vi: {
    pick: "Chọn vai để trò chuyện với bot", hint: "Mở nhiều thẻ để đóng nhiều vai cùng lúc.",
    newUser: "Người dùng mới", newUserHint: "Chưa đăng ký — bắt đầu từ /start", placeholder: "Nhập tin nhắn…",
    switch: "Đổi vai", phone: "Nhập số điện thoại để chia sẻ:", download: "Tải về", failed: "Không gửi được",
    stale: "Nút này không còn hiệu lực.", you: "Bạn là",
  },
  en: {
    pick: "Choose who you are", hint: "Open several tabs to be several people at once.",
    newUser: "New user", newUserHint: "Not registered — starts at /start", placeholder: "Type a message…",
    switch: "Switch persona", phone: "Type the phone number to share:", download: "Download", failed: "Could not send",
    stale: "This button is no longer active.", you: "You are",
  },
};
let lang = localStorage.getItem("sandbox-lang") || "vi";
let me = null;          // {id, first_name, language_code, label, phone}
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

function handle(event) {
  if (event.kind === "user") {
    const el = document.createElement("div"); el.className = "msg user"; el.textContent = event.text;
    $("messages").appendChild(el);
  } else if (event.kind === "toast") {
    toast(event.text);
  } else if (event.kind === "delete") {
    const el = bubbles.get(event.message.message_id); if (el) el.remove();
  } else {
    let el = bubbles.get(event.message.message_id);
    if (!el) {
      el = document.createElement("div"); el.className = "msg bot"; el.dataset.testid = "bot-message";
      bubbles.set(event.message.message_id, el); $("messages").appendChild(el);
    }
    fillBubble(el, event);
    if (event.kind !== "edit") replyKeyboard(event.markup);
  }
  scroll();
}

async function poll() {
  const who = me && me.id;
  while (me && me.id === who) {
    try {
      const res = await fetch(`/sandbox/api/events?user=${who}&after=${after}&wait=25`);
      const body = await res.json();
      if (!me || me.id !== who) return;
      for (const e of body.events) { after = Math.max(after, e.seq); handle(e); }
    } catch (err) { await new Promise((r) => setTimeout(r, 1500)); }
  }
}

// --- personas -----------------------------------------------------------------------------------------
function choose(persona) {
  me = persona; after = 0; bubbles.clear();
  $("messages").replaceChildren(); $("reply-keyboard").replaceChildren();
  location.hash = `user=${persona.id}`;
  $("personas").hidden = true; $("chat").hidden = false; $("switch").hidden = false;
  $("who").textContent = `${t("you")}: ${persona.label || persona.first_name}`;
  $("composer-input").focus();
  poll();
}

function labelOf(p) { return (lang === "en" && p.label_en) || p.label || p.first_name; }

function showPersonas() {
  me = null; $("personas").hidden = false; $("chat").hidden = true; $("switch").hidden = true; $("who").textContent = "";
  history.replaceState(null, "", location.pathname);
  const list = $("persona-list"); list.replaceChildren();
  for (const p of personas) {
    const b = document.createElement("button"); b.className = "persona"; b.type = "button";
    b.dataset.testid = `persona-${p.id}`;
    b.append(labelOf(p)); const s = document.createElement("small"); s.textContent = `${p.first_name} · #${p.id}`;
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
$("composer").onsubmit = async (ev) => {
  ev.preventDefault();
  const input = $("composer-input"); const text = input.value;
  if (!text.trim() || !me) return;
  input.value = "";
  try {
    await api("/sandbox/api/send", {user: me.id, text, first_name: me.first_name, language_code: me.language_code});
  } catch (err) { toast(t("failed")); input.value = text; }
};
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
  const m = /user=(\d+)/.exec(location.hash);
  if (m) {
    const id = Number(m[1]);
    const p = personas.find((x) => x.id === id);
    choose(p ? {...p, label: labelOf(p)} : {id, first_name: "Khách", language_code: lang, label: `#${id}`});
  } else showPersonas();
})();
