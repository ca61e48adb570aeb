// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // 获取验证码 countdown: a button with data-countdown="60" stays disabled that many seconds.
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (btn) {
      if (btn.dataset.counting) return;
      btn.dataset.counting = "1";
      var left = parseInt(btn.dataset.countdown, 10) || 0;
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
    });
  }

  document.addEventListener("DOMContentLoaded", function () { startCountdowns(document); });
  document.addEventListener("htmx:afterSettle", function (e) { startCountdowns(e.target); });
})();
