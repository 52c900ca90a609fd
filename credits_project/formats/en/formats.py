"""How pages write dates and times: ISO order, 24 hours, the time zone stated (UTC). Only the
display formats are set here; the input formats stay Django's for English."""
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i T"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
