"""Reports: relaxation-gap tables, gap attribution per layer, exported-model summaries."""

from verifier.encode.summary import export_summary
from verifier.report.attribution import GapAttribution, attribute_gap
from verifier.report.gap import DEFAULT_METHODS, gap_table, layer_widths
from verifier.report.gap_images import GapSummary, gap_over_images, parse_index
from verifier.report.gap_table import GapTable, LayerWidths, ObjectiveGap
from verifier.report.widths import bounds_by_method

__all__ = ["gap_table", "gap_over_images", "parse_index", "GapTable", "GapSummary",
           "ObjectiveGap", "LayerWidths", "layer_widths", "DEFAULT_METHODS", "attribute_gap",
           "GapAttribution", "export_summary", "bounds_by_method"]
