"""The statuses accounts and filings go through, as stored."""

ACTIVE = "active"
PENDING = "pending"  # an enterprise's registration, or a request, awaiting a reviewer
REJECTED = "rejected"
APPROVED = "approved"

DRAFT = "draft"
SUBMITTED = "submitted"
