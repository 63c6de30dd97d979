/*
 * cap.h — OASIS CAP 1.2 public warnings: one alert with one <info> and one
 * <area>, rendered as a complete XML document.
 *
 * The engine hands an approved warning to outputs as the JSON member "alert"
 * of a cap.* message; ioc_cap_from_json reads it into a struct ioc_cap_alert,
 * ioc_cap_render turns the struct into XML. The JSON keys are CAP's own
 * element names:
 *
 *   {"identifier": "...", "sender": "...", "sent": "2026-02-11T16:42:29+07:00",
 *    "status": "Actual", "msgType": "Alert", "scope": "Public",
 *    "references": "sender,identifier,sent sender,identifier,sent",
 *    "info": {"language": "th-TH", "category": "Met", "event": "...",
 *             "urgency": "Immediate", "severity": "Severe", "certainty": "Observed",
 *             "headline": "...", "description": "...", "instruction": "line 1\nline 2",
 *             "web": "https://...", "contact": "...",
 *             "area": {"areaDesc": "Z03", "circle": "13.7563,100.5018 0.5"}}}
 *
 * Every string field borrows: the struct never owns text, so a struct filled
 * by ioc_cap_from_json lives no longer than the cJSON tree it came from.
 * Optional fields are NULL (or "") when absent. Nothing here keeps state; any
 * thread may call it.
 */
#ifndef IOC_CAP_H
#define IOC_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Room for a "sent" value written by ioc_cap_time_format. */
#define IOC_CAP_TIME_LEN 32

struct ioc_cap_area {
    const char *area_desc; /* required: the zone, as operators and the public know it */
    bool has_circle;       /* a location is known */
    double lat, lon;       /* WGS 84 decimal degrees */
    double radius_km;      /* >= 0; 0 is a point */
};

struct ioc_cap_info {
    const char *language;     /* optional; "th-TH", "en-US" (CAP's default when absent) */
    const char *category;     /* Geo Met Safety Security Rescue Fire Health Env Transport Infra
                                 CBRNE Other */
    const char *event;        /* required: the type of event, in words */
    const char *urgency;      /* Immediate Expected Future Past Unknown */
    const char *severity;     /* Extreme Severe Moderate Minor Unknown */
    const char *certainty;    /* Observed Likely Possible Unlikely Unknown */
    const char *headline;     /* optional */
    const char *description;  /* optional */
    const char *instruction;  /* optional: the SOP lines joined with '\n' */
    const char *web;          /* optional: absolute URI */
    const char *contact;      /* optional */
    struct ioc_cap_area area; /* required */
};

struct ioc_cap_alert {
    const char *identifier; /* required; no spaces, commas, '<' or '&' (CAP 3.2.1) */
    const char *sender;     /* required; same characters as identifier */
    const char *sent;       /* required; "YYYY-MM-DDThh:mm:ss+hh:mm" exactly: CAP allows
                               no fractional seconds and no "Z" */
    const char *status;     /* Actual Exercise System Test Draft */
    const char *msg_type;   /* Alert Update Cancel (JSON key "msgType") */
    const char *scope;      /* "Public", or NULL meaning Public; Restricted and Private need
                               elements this struct does not carry, so they are refused */
    const char *references; /* required for Update and Cancel: space-separated
                               "sender,identifier,sent" of the earlier messages */
    struct ioc_cap_info info;
    /* Why the last ioc_cap_from_json failed ("info.urgency: 'Soon' is not one of ..."),
     * so the caller can log it once under its own tag. */
    char error[256];
};

/* Checks every required field, enumeration, format and the UTF-8 of every
 * string. Returns 0, or IOC_EINVAL (IOC_EENCODING for bad UTF-8 or a control
 * character XML cannot carry) with the reason in why (may be NULL). */
int ioc_cap_validate(const struct ioc_cap_alert *a, char *why, size_t why_len);

/* Renders a valid alert as a complete CAP 1.2 XML document in UTF-8, text
 * escaped. On success *xml_out is a NUL-terminated string the caller frees.
 * Returns 0, the ioc_cap_validate code (call it for the reason), or
 * IOC_ENOMEM; *xml_out is NULL on failure. */
int ioc_cap_render(const struct ioc_cap_alert *a, char **xml_out);

/* Fills *a from the JSON object described above; strings borrow from obj.
 * Unknown keys are refused (a misspelt optional field in a public warning
 * must not vanish silently); null counts as absent. Validates as
 * ioc_cap_validate does. Returns 0, IOC_EINVAL or IOC_EENCODING with the
 * reason in a->error. */
int ioc_cap_from_json(const cJSON *obj, struct ioc_cap_alert *a);

/* Formats ms since the epoch as a CAP "sent" value in the process's time
 * zone: whole seconds (truncated), an offset, and UTC as "-00:00" as CAP
 * asks. buf needs IOC_CAP_TIME_LEN bytes. Returns buf. */
char *ioc_cap_time_format(int64_t ms, char *buf, size_t n);

#endif
