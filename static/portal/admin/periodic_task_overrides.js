// django-celery-beat's periodic task form: hide the crontab translation field and show the chosen crontab's
// translation under the crontab's help text instead (as the package's inline script does; ours is a file so the
// admin's Content-Security-Policy can refuse inline scripts).
"use strict";
(function ($) {
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const help = $(".field-crontab .help");
  const originalCrontabHelp = help.html();

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    help.html(`${originalCrontabHelp}<br/>Translation: ${readableCrontabs[$("#id_crontab").val()]}`);
  });
})(django.jQuery);
