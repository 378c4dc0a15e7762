"""Server side of SOAP for the sandbox services: parse, validate, dispatch, answer or fault.

Requests are validated against the schema in the service's WSDL, so a client that sends what the
WSDL does not allow gets a fault here, as it would from a strict real service.
"""
from __future__ import annotations

import copy
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

from flask import Response, current_app, request
from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"

# Never resolve entities or fetch anything a request points at.
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                              remove_blank_text=True)

log = logging.getLogger(__name__)


class SoapFault(Exception):
    def __init__(self, message: str, code: str = "Client", detail: list | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail or []


def schema_from_wsdl(wsdl: Path) -> etree.XMLSchema:
    tree = etree.parse(str(wsdl), SAFE_PARSER)
    schema = tree.find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    # Standalone copy: type references like tns:Code need the WSDL's namespace declarations.
    standalone = etree.Element(schema.tag, attrib=dict(schema.attrib), nsmap=schema.nsmap)
    standalone.extend(copy.deepcopy(child) for child in schema)
    return etree.XMLSchema(standalone)


def envelope(payload, header_items: tuple = ()) -> bytes:
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soap": SOAP11})
    if header_items:
        header = etree.SubElement(env, f"{{{SOAP11}}}Header")
        header.extend(header_items)
    body = etree.SubElement(env, f"{{{SOAP11}}}Body")
    body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault) -> bytes:
    element = etree.Element(f"{{{SOAP11}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    if fault.detail:
        detail = etree.SubElement(element, "detail")
        detail.extend(fault.detail)
    return envelope(element)


def xml_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


def parse_request(data: bytes):
    try:
        root = etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError:
        raise SoapFault("The request is not well-formed XML.") from None
    if root.tag != f"{{{SOAP11}}}Envelope":
        raise SoapFault("Expected a SOAP 1.1 Envelope.", code="VersionMismatch")
    header = root.find(f"{{{SOAP11}}}Header")
    body = root.find(f"{{{SOAP11}}}Body")
    if body is None or len(body) == 0:
        raise SoapFault("The SOAP Body is empty.")
    return header, body[0]


Handler = Callable[[etree._Element, etree._Element | None], etree._Element]


def dispatch(service: str, namespace: str, schema: etree.XMLSchema,
             handlers: dict[str, Handler]) -> Response:
    """Answer one SOAP POST. `service` names it for fault injection (see sandbox.faults)."""
    try:
        header, operation = parse_request(request.get_data())
        name = etree.QName(operation).localname
        if etree.QName(operation).namespace != namespace or name not in handlers:
            raise SoapFault(f"Unknown operation {operation.tag}.")
        if not schema.validate(operation):
            raise SoapFault(f"Invalid {name} request: {schema.error_log.last_error.message}")
        fault = current_app.extensions["sandbox_faults"].take(service, name)
        if fault and fault.mode == "slow":  # takes its time, then answers as usual
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.when == "before":
            return injected(fault)
        payload = handlers[name](operation, header)
        if fault:
            # "after": the work is done and committed, then the answer is lost.
            return injected(fault)
        return xml_response(envelope(payload))
    except SoapFault as fault:
        return xml_response(fault_envelope(fault), status=500)


def injected(fault) -> Response:
    if fault.mode == "drop":
        # Close the connection without a word, as a crashed server or a cut cable would.
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            connection.shutdown(socket.SHUT_RDWR)
        return xml_response(b"", status=500)
    if fault.mode == "hang":
        time.sleep(fault.seconds)
        return xml_response(b"", status=504)
    if fault.mode == "malformed":
        return xml_response(b"<?xml version='1.0'?><soap:Envelope><oops", status=200)
    if fault.mode == "http500":
        return Response("Internal Server Error", status=500, content_type="text/html")
    return xml_response(fault_envelope(SoapFault("Injected fault for testing.", code="Server")), 500)
