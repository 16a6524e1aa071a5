// spiral review: filters, navigation, audio by sentence, verdicts, shortcuts. No framework,
// no network beyond this page's own server (and none at all in a static copy).
(() => {
  "use strict";
  const state = JSON.parse(document.getElementById("state").textContent);
  const MODE = state.mode;  // "server": verdicts POSTed to reviews.jsonl; "static": localStorage
  const STORE_KEY = "spiral-review:" + state.run;
  let verdicts = state.verdicts || {};
  if (MODE === "static") {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
      verdicts = Object.assign({}, verdicts, saved);
    } catch (e) { /* unreadable storage: start from the exported verdicts */ }
  }
  const rows = Array.from(document.querySelectorAll("#list .row"));
  const rowById = new Map(rows.map((r) => [r.dataset.id, r]));
  const filters = document.getElementById("filters");
  const overview = document.getElementById("overview");
  let current = null;

  function verdictOf(id) {
    const v = verdicts[id];
    if (!v) return "unreviewed";
    return v.stale ? "stale" : v.verdict;
  }

  function test(row, name, value) {
    if (name === "check") {
      const checks = row.dataset.checks ? row.dataset.checks.split(" ") : [];
      if (value === "__any") return checks.length > 0;
      if (value === "__none") return checks.length === 0;
      return checks.includes(value);
    }
    if (name === "verdict") return verdictOf(row.dataset.id) === value;
    return row.dataset[name] === value;
  }

  function matches(row, except) {
    for (const sel of filters.querySelectorAll("select")) {
      if (sel.value && sel.name !== except && !test(row, sel.name, sel.value)) return false;
    }
    return true;
  }

  function applyFilters() {
    let shown = 0;
    for (const r of rows) {
      const ok = matches(r);
      r.hidden = !ok;
      if (ok) shown += 1;
    }
    document.getElementById("shown").textContent = `${shown} of ${rows.length} items shown`;
    // Counts per option, under the other filters: what choosing it would leave.
    for (const sel of filters.querySelectorAll("select")) {
      const base = rows.filter((r) => matches(r, sel.name));
      for (const opt of sel.options) {
        const n = opt.value === "" ? base.length
          : base.filter((r) => test(r, sel.name, opt.value)).length;
        opt.textContent = `${opt.dataset.label} (${n})`;
      }
    }
    tally();
  }

  function tally() {
    const t = { accept: 0, reject: 0, stale: 0, unreviewed: 0 };
    for (const r of rows) t[verdictOf(r.dataset.id)] += 1;
    const text = `${t.accept} accepted · ${t.reject} rejected · ${t.unreviewed} to review` +
      (t.stale ? ` · ${t.stale} stale` : "");
    document.getElementById("tally").textContent = text;
    const el = document.getElementById("review-tally");
    if (el) el.textContent = text;
  }

  function section(id) { return document.getElementById("item-" + id); }
  function audioOf(sec) { return sec ? sec.querySelector("audio.main") : null; }

  function show(id) {
    if (id !== null && !section(id)) id = null;
    const prev = current && section(current);
    if (prev && id !== current) {
      prev.hidden = true;
      const a = audioOf(prev);
      if (a) a.pause();
      for (const a2 of prev.querySelectorAll("audio")) a2.pause();
    }
    current = id;
    overview.hidden = id !== null;
    for (const r of rows) r.classList.toggle("current", r.dataset.id === id);
    if (id !== null) {
      section(id).hidden = false;
      // the players of the item shown fetch their headers, so they show their length
      for (const a of section(id).querySelectorAll("audio")) a.preload = "metadata";
      rowById.get(id).scrollIntoView({ block: "nearest" });
      document.getElementById("main").scrollTop = 0;
      renderVerdict(id);
    }
  }

  function route() {
    const m = location.hash.match(/^#i=(.+)$/);
    show(m ? decodeURIComponent(m[1]) : null);
  }

  function go(delta) {
    const visible = rows.filter((r) => !r.hidden);
    if (!visible.length) return;
    let i = visible.findIndex((r) => r.dataset.id === current);
    if (i < 0) i = delta > 0 ? 0 : visible.length - 1;
    else i = Math.min(visible.length - 1, Math.max(0, i + delta));
    location.hash = "#i=" + encodeURIComponent(visible[i].dataset.id);
    route();  // now, not at the hashchange event: a key pressed right after acts on this item
  }

  // --- audio: play from a sentence; play the key sentence alone (stop at its end) ---
  let stopAt = null;
  let stopAudio = null;

  function watchStop() {
    if (stopAt === null || !stopAudio) return;
    if (stopAudio.currentTime >= stopAt) {
      stopAudio.pause();
      stopAt = null;
      return;
    }
    if (!stopAudio.paused) requestAnimationFrame(watchStop);
  }

  function playFrom(audio, start, end) {
    if (!audio) return;
    stopAt = end === undefined ? null : end;
    stopAudio = audio;
    audio.currentTime = start;
    const p = audio.play();
    if (p) p.then(() => { if (stopAt !== null) requestAnimationFrame(watchStop); }, () => {});
  }

  function playKey() {
    const sec = current && section(current);
    if (!sec || sec.dataset.keyStart === "") return;
    playFrom(audioOf(sec), parseFloat(sec.dataset.keyStart), parseFloat(sec.dataset.keyEnd));
  }

  document.addEventListener("timeupdate", (e) => {
    const audio = e.target;
    if (!audio.classList || !audio.classList.contains("main")) return;
    const sec = audio.closest("section.item");
    const t = audio.currentTime;
    for (const s of sec.querySelectorAll(".sent[data-start]")) {
      s.classList.toggle("playing", t >= parseFloat(s.dataset.start) &&
        t < parseFloat(s.dataset.end));
    }
  }, true);
  document.addEventListener("pause", (e) => {
    if (e.target === stopAudio && stopAt !== null && e.target.currentTime < stopAt - 0.05) {
      stopAt = null;  // paused by hand: later playback runs on
    }
  }, true);

  document.getElementById("main").addEventListener("click", (e) => {
    const sent = e.target.closest(".sent[data-start]");
    if (sent) {
      playFrom(audioOf(sent.closest("section.item")), parseFloat(sent.dataset.start));
      return;
    }
    if (e.target.closest(".play-key")) { playKey(); return; }
    if (e.target.closest(".next")) { go(1); return; }
    if (e.target.closest(".prev")) { go(-1); return; }
    const btn = e.target.closest(".verdict button");
    if (btn) {
      const v = btn.classList.contains("clear") ? null : btn.classList[0];
      const box = btn.closest(".verdict");
      setVerdict(box.dataset.id, v, box.querySelector(".note").value);
      if (v === "reject") box.querySelector(".note").focus();
    }
  });

  // --- verdicts ---
  function renderVerdict(id) {
    const sec = section(id);
    const v = verdicts[id];
    const box = sec.querySelector(".verdict");
    box.querySelector(".accept").setAttribute("aria-pressed", String(!!v && !v.stale && v.verdict === "accept"));
    box.querySelector(".reject").setAttribute("aria-pressed", String(!!v && !v.stale && v.verdict === "reject"));
    const note = box.querySelector(".note");
    if (document.activeElement !== note) note.value = v && !v.stale ? (v.note || "") : "";
    const status = box.querySelector(".vstatus");
    if (!status.classList.contains("error")) {
      status.textContent = !v ? "not reviewed"
        : v.stale ? `${v.verdict}ed an earlier version (seed ${v.seed}); review this one`
          : `${v.verdict}ed${v.at ? " " + v.at : ""}`;
    }
    const badge = rowById.get(id).querySelector(".vbadge");
    const kind = verdictOf(id);
    badge.className = "vbadge" + (kind === "unreviewed" ? "" : " " + kind);
    badge.textContent = { accept: "✓", reject: "✗", stale: "stale", unreviewed: "" }[kind];
  }

  async function setVerdict(id, verdict, note) {
    const sec = section(id);
    const status = sec.querySelector(".vstatus");
    status.classList.remove("error");
    note = (note || "").trim();
    if (MODE === "server") {
      let body;
      try {
        const r = await fetch("api/verdict", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Spiral-Review": "1" },
          body: JSON.stringify({ id, verdict, note }),
        });
        body = await r.json();
        if (!r.ok) throw new Error(body.error || r.statusText);
      } catch (err) {
        status.textContent = "not saved: " + err.message;
        status.classList.add("error");
        return;
      }
      if (body.review) verdicts[id] = body.review; else delete verdicts[id];
    } else {
      if (verdict) {
        verdicts[id] = { id, verdict, note, seed: state.seeds[id] ?? null,
          at: new Date().toISOString().slice(0, 19) + "Z", stale: false };
      } else {
        delete verdicts[id];
      }
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify(verdicts));
      } catch (err) {
        status.textContent = "not saved: this browser refuses localStorage here";
        status.classList.add("error");
        return;
      }
    }
    renderVerdict(id);
    applyFilters();
    const where = MODE === "server" ? "saved to reviews.jsonl" : "saved in this browser";
    status.textContent = verdict ? `${verdict}ed · ${where}` : `cleared · ${where}`;
    sec.querySelector(".verdict").dataset.saved = String(Date.now());
  }

  const download = document.getElementById("download");
  if (download) {
    download.addEventListener("click", () => {
      // Seeds are kept as strings (past 2**53) and written back as JSON integers.
      const lines = Object.values(verdicts).filter((v) => !v.stale).map((v) =>
        JSON.stringify({ id: v.id, verdict: v.verdict, note: v.note || "", seed: 0, at: v.at })
          .replace('"seed":0', '"seed":' + (v.seed === null ? "null" : v.seed)));
      const blob = new Blob([lines.join("\n") + (lines.length ? "\n" : "")],
        { type: "application/x-ndjson" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "reviews.jsonl";
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    });
  }

  // --- keyboard ---
  const help = document.getElementById("help");
  document.getElementById("help-button").addEventListener("click", () => { help.hidden = !help.hidden; });

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t.matches && t.matches("textarea, input, select")) {
      if (e.key === "Escape") t.blur();
      if (e.key === "Enter" && !e.shiftKey && t.matches("textarea.note") && current) {
        e.preventDefault();
        const v = verdicts[current];
        setVerdict(current, v && !v.stale ? v.verdict : "reject", t.value);
        t.blur();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const sec = current && section(current);
    switch (e.key) {
      case "j": case "ArrowDown": go(1); break;
      case "k": case "ArrowUp": go(-1); break;
      case "p": playKey(); break;
      case " ": {
        const a = audioOf(sec);
        if (!a) return;
        if (a.paused) a.play().catch(() => {}); else a.pause();
        break;
      }
      case "a": if (sec) setVerdict(current, "accept", sec.querySelector(".note").value); break;
      case "r":
        if (sec) {
          setVerdict(current, "reject", sec.querySelector(".note").value);
          sec.querySelector(".note").focus();
        }
        break;
      case "u": if (sec) setVerdict(current, null, ""); break;
      case "o": location.hash = "#overview"; route(); break;
      case "?": help.hidden = !help.hidden; break;
      case "Escape": help.hidden = true; break;
      default: return;
    }
    e.preventDefault();
  });

  filters.addEventListener("change", applyFilters);
  window.addEventListener("hashchange", route);
  for (const id of Object.keys(verdicts)) if (rowById.has(id)) renderVerdict(id);
  applyFilters();
  route();
})();
