"""What a delivery says: templates, gettext catalogs, CLDR formatting, labels and sample contexts."""
