/* otdel: drag a deal card to another column of the pipeline board.
   Dropping only chooses the stage in the card's own move form and submits it, so the move
   goes through the same request (htmx, or a plain POST without it) as the form does; the
   server decides everything: allowed moves, the handoff brief (it answers with a redirect to
   the brief form), conflicts. Columns a card may not move to do not accept it. */
(function () {
  "use strict";
  var dragged = null;

  function allowed(card, column) {
    if (!card || !column) return false;
    var moves = (card.dataset.moves || "").split(",");
    return moves.indexOf(column.dataset.stage) !== -1;
  }

  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".deal-card[draggable='true']");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.deal);
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    document.querySelectorAll(".board-col.drop-ok").forEach(function (c) { c.classList.remove("drop-ok"); });
  });

  document.addEventListener("dragover", function (e) {
    var column = e.target.closest && e.target.closest(".board-col");
    if (!allowed(dragged, column)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    column.classList.add("drop-ok");
  });

  document.addEventListener("dragleave", function (e) {
    var column = e.target.closest && e.target.closest(".board-col");
    if (column && !column.contains(e.relatedTarget)) column.classList.remove("drop-ok");
  });

  document.addEventListener("drop", function (e) {
    var column = e.target.closest && e.target.closest(".board-col");
    if (!allowed(dragged, column)) return;
    e.preventDefault();
    var form = dragged.querySelector("form.move-form");
    if (!form) return;
    form.querySelector("select[name='to_stage']").value = column.dataset.stage;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });
})();
