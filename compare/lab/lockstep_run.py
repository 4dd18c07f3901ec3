"""One lockstep training run from start to end, and its folder.

``LockstepRun.train`` trains the twins epoch by epoch: ``metrics.json`` rewritten after every
epoch, ``curves.png`` as ``LiveCurves`` says, the epoch table on stdout. ``finish`` ends the
run however it ended (every epoch done, stopped early, or interrupted): the final summary in
metrics.json, the figures, the closing lines. What a signal does is the command's to say
(``compare.train_both``): ``train`` lets a ``KeyboardInterrupt`` through as it comes.
"""

from __future__ import annotations

from pathlib import Path

from compare.lab.config import describe, plural
from compare.lab.epoch_table import FLOAT32_NOTE, HEADER, shown, summary_line, table_rows, table_step
from compare.lab.live_curves import LiveCurves, curves_caption
from compare.lab.metrics import RunMetrics
from compare.lab.run_folder import files_line


class LockstepRun:
    """``twins`` (a ``training.Twins``) trained on ``data`` into the folder ``out``.

    ``record_config`` is what metrics.json records of the run's settings (its ``sizes`` and
    ``split`` are shown); ``started`` the run's ``time.perf_counter()`` at its start.
    """

    def __init__(self, twins, data, out: Path, record_config: dict, started: float):
        self.twins, self.data, self.out = twins, data, out
        config = twins.config
        self.metrics = RunMetrics(out / "metrics.json", record_config, started, config.epochs)
        self.settings = describe(config, record_config["sizes"])
        self.curves = LiveCurves(out / "curves.png", f"{data.name}: {self.settings}", config.epochs)
        self.step = table_step(config.epochs)

    @property
    def epochs_done(self) -> int:
        return len(self.metrics.epochs)

    def train(self, progress=None) -> None:
        """Train every epoch (or until early stopping), printing and saving as it goes.

        ``progress(epoch, n_batches)``, if given, returns a bar for each epoch (``train_lockstep``).
        """
        from compare.lab.training import train_lockstep

        config, split = self.twins.config, self.metrics.data["config"]["split"]
        self.metrics.write()
        print(f"{self.data.name}: {split['train']:,} train / {split['valid']:,} valid / {split['test']:,} test "
              f"examples; {self.twins.manual.n_params:,} parameters", flush=True)
        print(f"settings: {self.settings}, {plural(config.epochs, 'epoch')}", flush=True)
        if self.step > 1:
            print(f"showing every {self.step} epochs, the best and the last (metrics.json has all {config.epochs})")
        print(HEADER, flush=True)
        self.curves.draw([], caption="running: no epoch has ended yet")
        for record in train_lockstep(self.twins, self.data, progress=progress):
            self.metrics.add(record)
            if shown(record["epoch"], config.epochs, self.step):
                print("\n".join(table_rows(record)), flush=True)
            self.curves.refresh(self.metrics.epochs)

    def finish(self, interrupt=None) -> None:
        """The run's end, however it ended: summary in metrics.json, the figures, the closing lines.

        ``interrupt``: the ``KeyboardInterrupt`` (Ctrl-C, or a signal as ``cli.Interrupted``) that
        ended it, recorded in the summary.
        """
        from compare.lab.plots import plot_decision_regions
        from compare.lab.training import torch_logits

        config, twins, epochs = self.twins.config, self.twins, self.metrics.epochs
        summary = self.metrics.finish(interrupt)
        if epochs:
            best = epochs[summary["best_valid_epoch"] - 1]
            if not shown(best["epoch"], config.epochs, self.step):
                print("best validation error (manual twin):\n" + "\n".join(table_rows(best)))
        self.curves.draw(epochs, caption=curves_caption(summary))
        if self.data.name == "circles":
            plot_decision_regions(
                {"manual": twins.manual.logits, "torch": torch_logits(twins.torch)},
                self.data.train.X, self.data.train.y, self.out / "decision_regions.png",
                title=f"circles, {len(self.data.train)} training points, after "
                      f"{plural(summary['epochs_done'], 'epoch')}\n{self.settings}",
            )
        if epochs:
            print(summary_line(summary))
            if config.dtype == "float32" and summary["final_max_param_diff"] > 1e-4:
                print(FLOAT32_NOTE)
        print(files_line(self.out), flush=True)
