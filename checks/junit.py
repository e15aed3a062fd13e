"""Results -> JUnit XML (junit-xml) and markdown tables."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from junit_xml import TestCase, TestSuite, to_xml_report_string

from checks.model import ERROR, FAILED, PREEXISTING, SKIPPED, Result


def testcase(result: Result, classname: str, suffix: str = "") -> TestCase:
    case = TestCase(f"{result.name}{suffix}", classname=classname, elapsed_sec=round(result.duration, 3),
                    stdout=result.stdout or None, stderr=result.stderr or None,
                    file=result.log)
    if result.status == FAILED:
        case.add_failure_info(message=result.message, output=result.stdout or result.stderr or None)
    elif result.status == ERROR:
        case.add_error_info(message=result.message)
    elif result.status in (SKIPPED, PREEXISTING):
        case.add_skipped_info(message=result.message)
    return case


def suites_xml(suites: Iterable[tuple[str, Sequence[TestCase]]]) -> str:
    return to_xml_report_string([TestSuite(name, list(cases)) for name, cases in suites], prettyprint=True)
