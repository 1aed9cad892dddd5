-- The operator pop-up's caller history reads an applicant's latest requests (number, status,
-- classifier code and title, deadline) from this index alone (an index-only scan where the
-- visibility map allows): the applicant's entries are next to each other in it, while their rows
-- are spread over the table by registration time. It replaces the plain `applicant_id` index,
-- which it serves as well.
DROP INDEX requests_applicant;
CREATE INDEX requests_applicant ON requests (applicant_id, registered_at, id)
    INCLUDE (status, number, classifier_code, classifier_title, deadline);
