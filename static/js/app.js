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

  // A submit button marked data-disabled-until-checked waits for the checkbox whose
  // data-enables names it (the server refuses the step without it anyway).
  function linkCheckboxes(root) {
    root.querySelectorAll("[data-enables]").forEach(function (box) {
      var target = document.getElementById(box.dataset.enables);
      if (!target) return;
      var sync = function () { target.disabled = !box.checked; };
      box.addEventListener("change", sync);
      sync();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns(document);
    linkCheckboxes(document);
  });
  document.addEventListener("htmx:afterSettle", function (e) { startCountdowns(e.target); });
})();
