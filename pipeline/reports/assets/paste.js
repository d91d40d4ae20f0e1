"use strict";
// The served page: send the pasted article to POST /score and draw the records it returns.
(() => {
  const meta = JSON.parse(document.getElementById("page-meta").textContent);
  const tooltip = Rhetoric.makeTooltip(meta);
  const $ = (id) => document.getElementById(id);
  let articles = [];
  let focus = "";

  // Picking a legend label dims the other sentences, as the report's filter does.
  function draw() {
    tooltip.hide();
    const drawn = articles.map((a) => Rhetoric.renderArticle(a, meta, tooltip, focus));
    if (!drawn.length) drawn.push(Rhetoric.el("p", "empty", "No sentences found in the text."));
    $("result").replaceChildren(...drawn);
    Rhetoric.markLegend($("legend"), focus);
  }
  Rhetoric.legend($("legend"), meta, null, (label) => { focus = label; if (articles.length) draw(); else Rhetoric.markLegend($("legend"), focus); });

  function problem(body, status) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail) && detail.length) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return `the server answered ${status}`;
  }

  $("paste-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("highlight");
    button.disabled = true;
    $("status").textContent = "Scoring…";
    $("error").textContent = "";
    try {
      const response = await fetch("score", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: $("article").value, doc_id: "pasted article", explain: meta.explainable }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        $("status").textContent = "";
        $("error").textContent = `Error: ${problem(body, response.status)}`;
        return;
      }
      articles = Rhetoric.groupArticles(body);
      draw();
      $("status").textContent = `${body.length} sentence${body.length === 1 ? "" : "s"} scored`;
    } catch (error) {
      $("status").textContent = "";
      $("error").textContent = `Error: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
})();
