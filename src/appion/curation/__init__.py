"""Curation: keep the good exposures, as classic assessment rows (``ApAssessmentData``)."""
