// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // 获取验证码 countdown: a button with data-countdown="60" stays disabled that many seconds.
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (btn) {
      if (btn.dataset.counting) return;
      btn.dataset.counting = "1";
      var left = parseInt(btn.dataset.countdown, 10) || 0;
      var label = btn.textContent;
      btn.disabled = true;
      var tick = function () {
        if (left <= 0) {
          btn.disabled = false;
          btn.textContent = "重新获取";
          return;
        }
        btn.textContent = left + " 秒后重发";
        left -= 1;
        setTimeout(tick, 1000);
      };
      tick();
      void label;
    });
  }

  // htmx submits a form's clicked button name/value only for hx-post on the form itself;
  // remember the submitter so "action=send" vs "action=login" reaches the server.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.submitter && e.submitter.name) {
      var hidden = form.querySelector("input[data-submitter]");
      if (!hidden) {
        hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.setAttribute("data-submitter", "");
        form.appendChild(hidden);
      }
      hidden.name = e.submitter.name;
      hidden.value = e.submitter.value;
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { startCountdowns(document); });
  document.addEventListener("htmx:afterSettle", function (e) { startCountdowns(e.target); });
})();
