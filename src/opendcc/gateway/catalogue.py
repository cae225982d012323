"""The published SMETS1 service catalogue as JSON (``opendcc.dsp.offering``).

- ``GET /catalogue/v1/smets1``: every cohort's entries, ``{"cohorts": {name: [entry ...]}}``;
- ``GET /catalogue/v1/smets1?cohort=NAME``: one cohort's, ``{"cohort": NAME, "srvs": [...]}``
  (404 ``{"error": "unknown_cohort"}`` for a cohort that is not registered).

Each entry is ``{"srv", "name", "offer", "reason"?}``; ``offer`` is ``core``, ``elective``,
``dsp``, ``not offered`` or ``not applicable`` and ``reason`` says why not. Public data, as
the DCC publishes its service catalogue: no key needed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from opendcc.dsp.offering import smets1_catalogue
from opendcc.hub import Hub


def routes(hub: Hub) -> list[Route]:
    table = smets1_catalogue(hub.catalogue, hub.registry.profiles())
    every = {name: [e.as_json() for e in entries] for name, entries in table.items()}

    async def smets1(request: Request) -> Response:
        cohort = request.query_params.get("cohort")
        if cohort is None:
            return JSONResponse({"cohorts": every})
        if cohort not in every:
            message = f"no cohort {cohort!r}: one of {', '.join(sorted(every))}"
            return JSONResponse({"error": "unknown_cohort", "message": message}, 404)
        return JSONResponse({"cohort": cohort, "srvs": every[cohort]})

    return [Route("/catalogue/v1/smets1", smets1, methods=["GET"])]
