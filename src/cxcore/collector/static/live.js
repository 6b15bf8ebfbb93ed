// Live scores: follows /live/scores with the page's own query, and shows each snapshot.
(function () {
  "use strict";
  var table = document.getElementById("scores");
  var body = table.querySelector("tbody");
  var status = document.getElementById("status");
  var fmt = function (x) { return x === null || x === undefined ? "-" : x.toFixed(1); };
  var source = new EventSource("live/scores" + window.location.search);
  source.addEventListener("scores", function (event) {
    var data = JSON.parse(event.data);
    var rows = data.cells.map(function (cell) {
      var tr = document.createElement("tr");
      var name = cell.key.length ? cell.key.map(String).join(" / ") : table.dataset.overall;
      var cells = [name, fmt(cell.score), "[" + fmt(cell.low) + ", " + fmt(cell.high) + "]",
                   String(cell.n) + (cell.low_n ? " (" + table.dataset.few + ")" : "")];
      cells.forEach(function (text, i) {
        var td = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) { td.scope = "row"; }
        td.textContent = text;
        tr.appendChild(td);
      });
      tr.dataset.n = String(cell.n);
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    status.textContent = table.dataset.updated + " " + data.at.replace("T", " ").slice(0, 19);
  });
}());
