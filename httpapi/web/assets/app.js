// Strata inspection page: the only script is the column filter of the
// product viewer. Everything else is server-rendered HTML.
(function () {
  "use strict";
  var input = document.getElementById("column-filter");
  var table = document.getElementById("rows");
  if (!input || !table) {
    return;
  }
  function apply() {
    var want = input.value.trim().toLowerCase();
    var heads = table.tHead.rows[0].cells;
    var show = [];
    for (var i = 0; i < heads.length; i++) {
      var name = (heads[i].getAttribute("data-col") || "").toLowerCase();
      show[i] = want === "" || name.indexOf(want) !== -1;
    }
    var rows = table.rows;
    for (var r = 0; r < rows.length; r++) {
      var cells = rows[r].cells;
      for (var c = 0; c < cells.length; c++) {
        cells[c].classList.toggle("hidden", !show[c]);
      }
    }
  }
  input.addEventListener("input", apply);
  apply();
})();
