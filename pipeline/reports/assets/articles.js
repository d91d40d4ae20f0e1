"use strict";
// The article report: a searchable list of every article, one page of articles drawn at a
// time (so a thousand articles stay quick), and a filter that keeps the articles holding a label.
(() => {
  const PAGE_SIZE = 20;
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const meta = data.meta;
  const articles = Rhetoric.groupArticles(data.records);
  const tooltip = Rhetoric.makeTooltip(meta);
  const $ = (id) => document.getElementById(id);
  const state = { label: "", query: "", page: 0 };

  const totals = {};
  for (const record of data.records) totals[record.label] = (totals[record.label] || 0) + 1;

  const filter = $("label-filter");
  filter.append(new Option(`all labels (${articles.length} articles)`, ""));
  for (const label of meta.labels) {
    const holding = articles.filter((a) => a.counts[label]).length;
    filter.append(new Option(`${meta.names[label] || label} (${holding} articles)`, label));
  }
  Rhetoric.legend($("legend"), meta, totals, (label) => setLabel(label));

  function setLabel(label) {
    state.label = label;
    state.page = 0;
    filter.value = label;
    draw();
  }

  function visible() {
    const query = state.query.trim().toLowerCase();
    return articles.filter(
      (a) => (!state.label || a.counts[state.label]) && (!query || a.id.toLowerCase().includes(query)),
    );
  }

  function drawNav(list, first, last) {
    const items = list.map((article, i) => {
      const item = document.createElement("li");
      const link = Rhetoric.el("a", i >= first && i < last ? "on-page" : "", article.id);
      link.href = "#";
      link.title = `${article.id}: ${article.sentences.length} sentences`;
      link.dataset.doc = article.id;
      link.append(Rhetoric.shareBar(article, meta, "mini"));
      link.addEventListener("click", (event) => {
        event.preventDefault();
        state.page = Math.floor(i / PAGE_SIZE);
        draw();
        const target = [...$("articles").children].find((node) => node.dataset.doc === article.id);
        if (target) {
          target.scrollIntoView({ block: "start" });
          const first = target.querySelector(".sent");
          if (first) first.focus({ preventScroll: true });
        }
      });
      item.append(link);
      return item;
    });
    $("nav-list").replaceChildren(...items);
  }

  function draw() {
    tooltip.hide();
    const list = visible();
    const pages = Math.max(1, Math.ceil(list.length / PAGE_SIZE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const first = state.page * PAGE_SIZE;
    const last = Math.min(list.length, first + PAGE_SIZE);
    const shown = list.slice(first, last).map((a) => Rhetoric.renderArticle(a, meta, tooltip, state.label));
    if (!shown.length) shown.push(Rhetoric.el("p", "empty", "No article matches."));
    $("articles").replaceChildren(...shown);
    drawNav(list, first, last);
    Rhetoric.markLegend($("legend"), state.label);
    const what = state.label ? ` holding ${meta.names[state.label] || state.label}` : "";
    $("summary").textContent = `${list.length} of ${articles.length} articles${what}, ${data.records.length} sentences in all`;
    const info = list.length ? `articles ${first + 1}–${last} of ${list.length} (page ${state.page + 1} of ${pages})` : "";
    for (const node of document.querySelectorAll(".page-info")) node.textContent = info;
    for (const node of document.querySelectorAll(".prev")) node.disabled = state.page === 0;
    for (const node of document.querySelectorAll(".next")) node.disabled = state.page >= pages - 1;
  }

  function turn(step) {
    state.page += step;
    draw();
    window.scrollTo(0, 0);
  }

  filter.addEventListener("change", () => setLabel(filter.value));
  $("search").addEventListener("input", (event) => {
    state.query = event.target.value;
    state.page = 0;
    draw();
  });
  for (const node of document.querySelectorAll(".prev")) node.addEventListener("click", () => turn(-1));
  for (const node of document.querySelectorAll(".next")) node.addEventListener("click", () => turn(1));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    if (event.key === "ArrowRight" && !document.querySelector(".next").disabled) turn(1);
    if (event.key === "ArrowLeft" && !document.querySelector(".prev").disabled) turn(-1);
  });
  const top = document.querySelector(".top");
  const setTop = () => document.documentElement.style.setProperty("--top-height", `${top.offsetHeight}px`);
  window.addEventListener("resize", setTop);
  setTop();
  draw();
})();
