"""Head office's pages (`qcall hq web`): the live board of branches over target now, the month's
ranking of branches, regions, and one branch drilled down, with the branch web's sign-in, sessions,
CSRF and users file. Like the rest of web/ they import no other component: what they show comes
from a `HeadOffice` source (web.hq.source) that `qcall hq web` builds over head office's
PostgreSQL (qcall.hq_web: qhq.report.Reports and the history's store)."""
