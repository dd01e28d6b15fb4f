/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON helpers (vm-json.h). */
#include "vm-json.h"

void vm_json_put_str(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s));
}

void vm_json_put_int(json_object *o, const char *key, int64_t n)
{
	json_object_object_add(o, key, json_object_new_int64(n));
}

/* O's KEY if O is an object holding it with type T, else NULL. */
static json_object *get(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *vm_json_str(json_object *o, const char *key)
{
	json_object *v = get(o, key, json_type_string);

	return v ? json_object_get_string(v) : "";
}

int64_t vm_json_int(json_object *o, const char *key, int64_t dflt)
{
	json_object *v = get(o, key, json_type_int);

	return v ? json_object_get_int64(v) : dflt;
}

bool vm_json_bool(json_object *o, const char *key)
{
	json_object *v = get(o, key, json_type_boolean);

	return v && json_object_get_boolean(v);
}

json_object *vm_json_obj(json_object *o, const char *key)
{
	return get(o, key, json_type_object);
}

json_object *vm_json_arr(json_object *o, const char *key)
{
	return get(o, key, json_type_array);
}

size_t vm_json_len(json_object *a)
{
	return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}
