/* Headless checks read data-fault-labels (how many fault-lane numbers the page draws) and
   data-fault-label-overlaps (pairs of them whose boxes intersect, as the browser laid them
   out). One script for every report page: chaos, load and soak. */
(function () {
  var overlaps = [];
  document.querySelectorAll("figure.plot").forEach(function (fig) {
    var boxes = Array.prototype.map.call(fig.querySelectorAll("[id^='fault-label-']"),
      function (el) { return { id: el.id, r: el.getBoundingClientRect() }; });
    for (var i = 0; i < boxes.length; i++) {
      for (var j = i + 1; j < boxes.length; j++) {
        var a = boxes[i].r, b = boxes[j].r;
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
          overlaps.push(fig.id + ":" + boxes[i].id + "/" + boxes[j].id);
        }
      }
    }
  });
  document.body.setAttribute("data-fault-labels",
    String(document.querySelectorAll("[id^='fault-label-']").length));
  document.body.setAttribute("data-fault-label-overlaps", overlaps.join(" "));
})();
