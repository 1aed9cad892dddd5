-- The operator pop-up's caller history reads an applicant's latest requests (number, status,
-- classifier code and title, deadline) from this index alone: the applicant's entries are next to
-- each other in it, while their rows are spread over the table by registration time (one page read
-- per request, most of the lookup's time on a city-sized database). It replaces the plain
-- `applicant_id` index, which it serves as well.
DROP INDEX requests_applicant;
CREATE INDEX requests_applicant ON requests (
    applicant_id, registered_at, id, status, number, classifier_code, classifier_title, deadline
);
