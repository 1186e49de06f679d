// The board reloads itself every minute, except while someone is using a form on it (an open
// 対応済み form, a focused field) or the tab is hidden: a reload would lose what they typed.
// Without JavaScript the page's <noscript> meta refresh does the reloading instead.
(function () {
  "use strict";
  setInterval(function () {
    var active = document.activeElement;
    var busy = document.querySelector("details[open]") || (active && active.form);
    if (!busy && document.visibilityState === "visible") {
      window.location.reload();
    }
  }, 60000);
})();
