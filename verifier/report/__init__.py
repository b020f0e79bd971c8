"""Reports: relaxation-gap tables, gap attribution per layer, exported-model summaries."""

from verifier.report.gap import (DEFAULT_METHODS, GapSummary, GapTable, LayerWidths,
                                 ObjectiveGap, add_gap_subparser, gap_over_images, gap_table,
                                 layer_widths, run_gap_command)

__all__ = ["gap_table", "gap_over_images", "GapTable", "GapSummary", "ObjectiveGap",
           "LayerWidths", "layer_widths", "DEFAULT_METHODS", "add_gap_subparser",
           "run_gap_command", "attribute_gap", "GapAttribution", "export_summary"]


def __getattr__(name):
    if name in ("attribute_gap", "GapAttribution", "export_summary"):
        from verifier.report import attribution
        return getattr(attribution, name)
    raise AttributeError(name)
