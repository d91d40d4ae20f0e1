"use strict";
// Draws scored sentences (records as `python -m pipeline.score` writes them) as highlighted
// articles. Shared by the HTML report and the served page. Text only ever goes through
// textContent, so a sentence holding markup is shown, never parsed.
const Rhetoric = (() => {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function tint(hex, alpha) {
    const n = parseInt(String(hex).slice(1), 16) || 0;
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function colorOf(meta, label) { return meta.colors[label] || "#888888"; }
  function nameOf(meta, label) { return meta.names[label] || String(label); }

  // Records in input order -> articles in order of first appearance, with label counts.
  function groupArticles(records) {
    const byId = new Map();
    for (const record of records) {
      const id = String(record.doc_id);
      if (!byId.has(id)) byId.set(id, { id, sentences: [], counts: {} });
      const article = byId.get(id);
      article.sentences.push(record);
      article.counts[record.label] = (article.counts[record.label] || 0) + 1;
    }
    return [...byId.values()];
  }

  function labelOrder(meta, counts) {
    const extra = Object.keys(counts).filter((label) => !meta.labels.includes(label));
    return meta.labels.concat(extra);
  }

  // A stacked bar: each label's share of the article's sentences.
  function shareBar(article, meta, className = "share-bar") {
    const bar = el("div", className);
    const total = article.sentences.length;
    const parts = [];
    for (const label of labelOrder(meta, article.counts)) {
      const count = article.counts[label] || 0;
      if (!count) continue;
      const share = el("span", "share");
      share.style.width = `${(100 * count) / total}%`;
      share.style.background = colorOf(meta, label);
      share.dataset.label = label;
      share.title = `${nameOf(meta, label)}: ${count} of ${total}`;
      bar.append(share);
      parts.push(`${nameOf(meta, label)} ${Math.round((100 * count) / total)}%`);
    }
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `label shares: ${parts.join(", ")}`);
    return bar;
  }

  function renderArticle(article, meta, tooltip, focusLabel = "") {
    const section = el("article", "article");
    section.dataset.doc = article.id;
    const head = el("header", "article-head");
    const n = article.sentences.length;
    head.append(el("h2", "article-title", article.id), el("span", "article-size", `${n} sentence${n === 1 ? "" : "s"}`));
    const body = el("p", "article-body");
    for (const record of article.sentences) {
      const span = el("span", "sent", record.text);
      const color = colorOf(meta, record.label);
      span.dataset.label = record.label;
      span.dataset.index = record.sentence_index;
      span.tabIndex = 0;
      span.style.backgroundColor = tint(color, 0.2);
      span.style.borderBottomColor = color;
      if (focusLabel && record.label !== focusLabel) span.classList.add("dim");
      tooltip.attach(span, record);
      body.append(span, " ");
    }
    section.append(head, shareBar(article, meta), body);
    return section;
  }

  // Legend entries are buttons: picking one calls onPick(label), picking it again onPick("").
  function legend(container, meta, counts, onPick) {
    container.replaceChildren();
    for (const label of labelOrder(meta, counts || {})) {
      const item = el("button", "legend-item");
      item.type = "button";
      item.dataset.label = label;
      item.setAttribute("aria-pressed", "false");
      const swatch = el("span", "swatch");
      swatch.style.background = colorOf(meta, label);
      item.append(swatch, el("span", "", nameOf(meta, label)));
      if (counts) item.append(el("span", "muted", String(counts[label] || 0)));
      item.addEventListener("click", () => onPick(item.getAttribute("aria-pressed") === "true" ? "" : label));
      container.append(item);
    }
  }

  function markLegend(container, label) {
    for (const item of container.querySelectorAll(".legend-item")) {
      item.setAttribute("aria-pressed", String(item.dataset.label === label));
    }
  }

  // One floating card for the page: label probabilities and the terms behind the label.
  function makeTooltip(meta) {
    const tip = el("div", "tip");
    tip.id = "tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    document.body.append(tip);
    const records = new WeakMap();

    function fill(record) {
      tip.replaceChildren();
      const head = el("div", "tip-head");
      const swatch = el("span", "swatch");
      swatch.style.background = colorOf(meta, record.label);
      head.append(swatch, el("span", "", nameOf(meta, record.label)));
      const table = el("table");
      const scores = record.scores || {};
      for (const label of Object.keys(scores).sort((a, b) => scores[b] - scores[a])) {
        const row = table.insertRow();
        row.dataset.label = label;
        row.insertCell().textContent = nameOf(meta, label);
        const barCell = row.insertCell();
        barCell.className = "bar";
        const bar = el("span");
        bar.style.width = `${Math.max(1, 100 * scores[label])}%`;
        bar.style.background = colorOf(meta, label);
        barCell.append(bar);
        const value = row.insertCell();
        value.className = "num";
        value.textContent = Number(scores[label]).toFixed(3);
      }
      tip.append(head, table);
      if (Array.isArray(record.explanation)) {
        const why = el("div", "tip-why");
        if (record.explanation.length) {
          why.append(el("div", "", `Pushed towards ${nameOf(meta, record.label)}:`));
          const list = el("ol");
          for (const term of record.explanation) {
            const item = el("li");
            item.append(el("span", "term", term.term));
            if (term.source) item.append(el("span", "src", ` (${term.source})`));
            item.append(el("span", "muted", ` +${Number(term.weight).toFixed(3)}`));
            list.append(item);
          }
          why.append(list);
        } else {
          why.append(el("div", "muted", "No single term pushed it towards this label."));
        }
        tip.append(why);
      }
    }

    function place(x, y) {
      tip.hidden = false;
      const width = tip.offsetWidth;
      const height = tip.offsetHeight;
      let left = x + 14;
      let top = y + 18;
      if (left + width > window.innerWidth - 8) left = Math.max(8, window.innerWidth - width - 8);
      if (top + height > window.innerHeight - 8) top = Math.max(8, y - height - 12);
      tip.style.left = `${left + window.scrollX}px`;
      tip.style.top = `${top + window.scrollY}px`;
    }

    let current = null;
    function show(span, x, y) {
      const record = records.get(span);
      if (!record) return;
      if (span !== current) fill(record);
      current = span;
      place(x, y);
    }
    function hide() { tip.hidden = true; current = null; }

    document.addEventListener("mousemove", (event) => {
      const span = event.target.closest ? event.target.closest(".sent") : null;
      if (span) show(span, event.clientX, event.clientY);
      else if (current && document.activeElement !== current) hide();
    });
    document.addEventListener("focusin", (event) => {
      const span = event.target.closest ? event.target.closest(".sent") : null;
      if (span) {
        const box = span.getBoundingClientRect();
        show(span, box.left, box.bottom - 10);
      } else hide();
    });
    document.addEventListener("keydown", (event) => { if (event.key === "Escape") hide(); });
    window.addEventListener("scroll", () => { if (current && document.activeElement !== current) hide(); }, { passive: true });
    return { attach(span, record) { records.set(span, record); }, hide };
  }

  return { el, tint, groupArticles, shareBar, renderArticle, legend, markLegend, makeTooltip };
})();
