/* The dashboard's next page, loaded in place (progressive enhancement, no framework). Without this file the page
   is whole: "Next page" is a plain link to ?page=N. With it, a button beside the links fetches that same address
   (same origin, the session's cookie), takes its milestone cards (their pictures drawn by the server) and its page
   links, appends the cards below those shown and puts the address in the bar: a bookmark or a reload opens the
   page last loaded, with its links. Anything unexpected (a session that ended, a network fault) follows the link
   as a browser without script would. The server's CSP lets this one file run ('self') and fetch from 'self'. */
"use strict";

(function () {
  const button = document.getElementById("more");
  const cards = document.querySelector(".cards");
  if (!button || !cards) return;

  function nextLink() {
    return document.querySelector("nav.pages a[rel=next]");
  }

  function show() {
    button.parentElement.hidden = !nextLink();
  }

  async function loadNext() {
    const link = nextLink();
    if (!link || button.getAttribute("aria-busy") === "true") return;
    const href = link.href;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const answer = await fetch(href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      const loaded = new URL(answer.url);
      if (!answer.ok || loaded.pathname !== new URL(href).pathname) throw new Error("not the next page");
      const doc = new DOMParser().parseFromString(await answer.text(), "text/html");
      const more = doc.querySelector(".cards");
      if (!more || !more.children.length) throw new Error("no milestones on the next page");
      const first = document.importNode(more.firstElementChild, true);
      cards.append(first, ...Array.from(more.children).slice(1).map((card) => document.importNode(card, true)));
      const nav = document.querySelector("nav.pages");
      const newNav = doc.querySelector("nav.pages");
      if (nav && newNav) nav.replaceWith(document.importNode(newNav, true));
      const shown = document.getElementById("shown");
      const through = doc.getElementById("shown");
      if (shown && through && through.dataset.through) shown.textContent = through.dataset.through;
      history.replaceState(null, "", href);
      // the reader goes on where the new cards begin (keyboard and screen reader alike)
      first.tabIndex = -1;
      first.focus();
    } catch (_) {
      window.location.assign(href);
      return;
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
    show();
  }

  button.addEventListener("click", loadNext);
  show();
})();
