"""Customers: the API (find by any identity, add and remove identities, merge) and the
customer page, `/customers/<id>`: identities, every ticket, history, merge."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import (
    hide,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.customers import service as customers
from callcenter.customers.models import Customer
from callcenter.customers.schemas import (
    CustomerMergeIn,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    CustomerQuery,
    CustomerSummary,
    IdentityIn,
    IdentityOut,
)
from callcenter.errors import APIError
from callcenter.flows import merging
from callcenter.http.context import db, settings
from callcenter.tickets import service as tickets
from callcenter.tickets.schemas import EventList, EventOut, TimelineQuery

bp = Blueprint("customers", __name__)
tag_blueprint(bp, ["customers"])
_ID = "<int:customer_id>"


async def _customer_or_404(customer_id: int) -> Customer:
    customer = None
    if customer_id <= api.ROW_ID_MAX:
        customer = await customers.get(db(), customer_id=customer_id)
    if customer is None:
        raise APIError(404, "not_found", "There is no such customer.")
    return customer


async def _out(customer: Customer) -> CustomerOut:
    return CustomerOut(
        id=customer.id, name=customer.name, created_at=customer.created_at,
        identities=[IdentityOut(id=i.id, kind=i.kind, value=i.value)
                    for i in await customers.identities(db(), customer_id=customer.id)],
        merged_into_id=customer.merged_into_id, merged_at=customer.merged_at,
        merged_from=[c.id for c in await customers.merged_from(db(), customer_id=customer.id)],
    )


@bp.get("/api/customers")
@require_role(Role.agent)
@validate_querystring(CustomerQuery)
@validate_response(CustomerPage, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_customers(query_args: CustomerQuery) -> CustomerPage:
    """Customers, newest first; `q` finds one by a number in any format, an email address
    in any case, a chat id, or part of a name."""
    offset, limit = api.page_bounds(query_args.page, query_args.per_page)
    found, total = await customers.list_customers(
        db(), q=query_args.q, region=settings().phone_region, offset=offset, limit=limit
    )
    return CustomerPage(
        items=[CustomerSummary(id=c.id, name=c.name, created_at=c.created_at) for c in found],
        page=query_args.page, per_page=query_args.per_page, total=total,
        next_page=api.next_page(query_args.page, query_args.per_page, total),
    )


@bp.get(f"/api/customers/{_ID}")
@require_role(Role.agent)
@validate_response(CustomerOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def get_customer(customer_id: int) -> CustomerOut:
    """The customer with their identities and merges (a merged-away customer says where
    they went: `merged_into_id`)."""
    return await _out(await _customer_or_404(customer_id))


@bp.patch(f"/api/customers/{_ID}")
@require_role(Role.agent)
@validate_request(CustomerPatch)
@validate_response(CustomerOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def rename_customer(customer_id: int, data: CustomerPatch) -> CustomerOut:
    """Give the customer a name."""
    customer = await _customer_or_404(customer_id)
    await customers.rename(db(), customer=customer, name=data.name)
    return await _out(customer)


@bp.post(f"/api/customers/{_ID}/identities")
@require_role(Role.agent)
@validate_request(IdentityIn)
@validate_response(IdentityOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 422)
async def add_identity(customer_id: int, data: IdentityIn) -> tuple[IdentityOut, int]:
    """Another number, address or chat id of this customer, in any format (stored
    normalised). 409 when it is another customer's: merge the two."""
    customer = await _customer_or_404(customer_id)
    if customer.merged_into_id is not None:
        raise APIError(409, "merged", f"This customer was merged into #{customer.merged_into_id}.")
    value = data.value
    try:
        value = customers.normalise(data.kind, value, region=settings().phone_region)
        owner = await customers.find_by_identity(db(), kind=data.kind, value=value)
        if owner is not None and owner.id != customer.id:
            raise APIError(409, "taken", f"{value} belongs to customer #{owner.id}: merge them.")
        identity = await customers.add_identity(
            db(), customer=customer, kind=data.kind, value=value,
            region=settings().phone_region,
        )
    except customers.IdentityError as error:
        raise APIError(422, "unprocessable", str(error)) from None
    return IdentityOut(id=identity.id, kind=identity.kind, value=identity.value), 201


@bp.delete(f"/api/customers/{_ID}/identities/<int:identity_id>")
@require_role(Role.agent)
@validate_response(CustomerOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def remove_identity(customer_id: int, identity_id: int) -> CustomerOut:
    """This number, address or chat id no longer recognises the customer."""
    customer = await _customer_or_404(customer_id)
    identity = None
    if identity_id <= api.ROW_ID_MAX:
        identity = await customers.get_identity(db(), identity_id=identity_id)
    if identity is None or identity.customer_id != customer.id:
        raise APIError(404, "not_found", "The customer has no such identity.")
    await customers.remove_identity(db(), identity=identity)
    return await _out(customer)


@bp.post(f"/api/customers/{_ID}/merge")
@require_role(Role.agent)
@validate_request(CustomerMergeIn)
@validate_response(CustomerOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def merge_customer(customer_id: int, data: CustomerMergeIn) -> CustomerOut:
    """Merge this customer into `into_id`: identities, tickets and calls all go there (the
    Last Five and history with them); logged, and shown on both. Answers the survivor."""
    await _customer_or_404(customer_id)
    await _customer_or_404(data.into_id)
    user = current_user()
    assert user is not None
    try:
        survivor = await merging.merge_customers(
            db(), source_id=customer_id, target_id=data.into_id, actor_id=user.id
        )
    except merging.MergeError as error:
        raise APIError(409, "conflict", str(error)) from None
    return await _out(survivor)


@bp.get(f"/api/customers/{_ID}/timeline")
@require_role(Role.agent)
@validate_querystring(TimelineQuery)
@validate_response(EventList, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def customer_timeline(customer_id: int, query_args: TimelineQuery) -> EventList:
    """The customer's whole history across their tickets and channels, newest first; page
    back with `before_id` (the oldest id you have)."""
    customer = await _customer_or_404(customer_id)
    found = await tickets.customer_timeline(
        db(), customer_id=customer.id, before_id=query_args.before_id, limit=query_args.limit
    )
    return EventList(items=[EventOut.of(event) for event in found])


@bp.get(f"/customers/{_ID}")
@hide
@require_role(Role.agent)
async def customer_page(customer_id: int) -> str:
    customer = await _customer_or_404(customer_id)
    owned = await tickets.recent_for(db(), customer_id=customer.id, limit=200)
    merged_by = await accounts.emails(
        db(), user_ids={customer.merged_by_id} if customer.merged_by_id else set()
    )
    return await render_template(
        "customers/customer.html", customer=customer,
        identities=await customers.identities(db(), customer_id=customer.id),
        tickets=owned, merged_from=await customers.merged_from(db(), customer_id=customer.id),
        merged_by=merged_by,
        history=await tickets.customer_timeline(db(), customer_id=customer.id, limit=20),
    )
