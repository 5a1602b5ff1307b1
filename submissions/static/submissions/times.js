// Times as the reader's own clock shows them, with the time zone named, so
// "19:40" is never ambiguous. The server renders UTC (with "UTC") for a page
// without scripts; this rewrites every <time datetime> it is given.
(function () {
  "use strict";

  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  });

  function showTime(element, isoText) {
    if (isoText) {
      element.setAttribute("datetime", isoText);
    }
    const date = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) {
      element.textContent = format.format(date);
    }
  }

  window.pageTimes = { showTime };
  for (const element of document.querySelectorAll("time[datetime]")) {
    showTime(element);
  }
})();
