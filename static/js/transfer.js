// 对公转账: copy buttons for the CA's account, the amount and the remark. Without this file the
// values are still on the page and select in one tap (user-select: all); the buttons stay hidden.
(function () {
  "use strict";

  function fallbackCopy(text) {
    // navigator.clipboard needs a secure context; a phone on the office Wi-Fi may not have one.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    area.setSelectionRange(0, text.length);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function flash(button, label, className) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = label;
    button.classList.add(className);
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      button.textContent = original;
      button.classList.remove(className);
    }, 1600);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(button.dataset.copy).then(
          function () { flash(button, "已复制", "is-copied"); },
          function () { flash(button, "请长按复制", "is-failed"); }
        );
      });
    });
  });
})();
