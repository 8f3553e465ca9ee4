//! Conversions between Python objects and engine values, done once and directly (no
//! JSON round trip).
//!
//! Stored records (KV values, cells, documents, event payloads) go straight between
//! Python objects and their packed bytes ([`to_packed`], [`packed_to_py`]); vector
//! metadata, filters and `json_set` values go through a [`Value`] tree.
//!
//! Invariants:
//! - Python to [`Value`] or packed bytes counts nesting depth while it converts and stops past
//!   [`VALUE_DEPTH_MAX`], so a 100,000-deep list is refused with `ValidationError` after
//!   129 frames instead of overflowing the stack.
//! - The happy path allocates only what the value itself needs: the location of a bad
//!   value (`value["a"][3]`) is assembled only when an error travels back up.
//! - Exact built-in types are recognised first by a pointer comparison; subclasses
//!   (`OrderedDict`, `IntEnum`, ...) and NumPy scalars take a slower path afterwards.
//! - A dict or list is written with the length it had when its conversion began, and
//!   the packed bytes always hold the count they announce: one that a conversion hook
//!   shrinks meanwhile is refused, a list it grows is stored at its announced length.
//! - [`Value`] or packed bytes to Python never fail on depth: the engine refuses values nested deeper
//!   than [`VALUE_DEPTH_MAX`], so the recursion is bounded.
//! - Vectors are copied into an owned `Vec<f32>` while the GIL is held, so another
//!   Python thread can never change an array while the engine reads it.

use numpy::{PyArray1, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
    PyType,
};
use pyo3::{intern, IntoPyObjectExt};
use stratadb::limits::VALUE_DEPTH_MAX;
use stratadb::packed::{Item, PackedReader, PackedWriter};
use stratadb::{Object, Packed, Value};

use crate::errors::validation;

// ----- Python to Value ---------------------------------------------------------------

/// One step of the path to a value inside a container, for error messages.
enum Step {
    Key(String),
    Index(usize),
}

/// Why a value could not be converted, and where (innermost step last once reversed).
struct Refusal {
    message: String,
    /// Steps from the offending value up to the root (pushed while unwinding).
    steps: Vec<Step>,
    /// Whether the location is worth reporting (not for a 129-step nesting path).
    located: bool,
}

impl Refusal {
    fn new(message: String) -> Self {
        Refusal {
            message,
            steps: Vec::new(),
            located: true,
        }
    }

    fn at(mut self, step: Step) -> Self {
        if self.located {
            self.steps.push(step);
        }
        self
    }

    fn into_py_err(self, root: &str) -> PyErr {
        if !self.located {
            return validation(format!("{root} {}", self.message));
        }
        let mut location = String::from(root);
        for step in self.steps.iter().rev() {
            match step {
                Step::Key(key) => location.push_str(&format!("[{key:?}]")),
                Step::Index(index) => location.push_str(&format!("[{index}]")),
            }
        }
        validation(format!("{} at {location}", self.message))
    }
}

/// The Python type name of an object, for error messages (`set`, `Opaque`, `NoneType`).
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Converts a Python object into an engine value. `root` names it in error messages
/// (`value`, `payload`, `metadata`).
pub fn to_value(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    convert(obj, 0).map_err(|refusal| refusal.into_py_err(root))
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Refusal> {
    // Exact built-in types first: these checks are pointer comparisons.
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(text) = obj.cast_exact::<PyString>() {
        return string(text).map(Value::String);
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return integer(obj).map(Value::Int);
    }
    if let Ok(float) = obj.cast_exact::<PyFloat>() {
        return Ok(Value::Float(float.value()));
    }
    if let Ok(flag) = obj.cast_exact::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if let Ok(dict) = obj.cast_exact::<PyDict>() {
        return object(dict, depth);
    }
    if let Ok(list) = obj.cast_exact::<PyList>() {
        return array(list.iter(), list.len(), depth);
    }
    if let Ok(tuple) = obj.cast_exact::<PyTuple>() {
        return array(tuple.iter(), tuple.len(), depth);
    }
    if let Ok(bytes) = obj.cast_exact::<PyBytes>() {
        return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
    }
    convert_slow(obj, depth)
}

/// Converts a Python object straight into a packed value (the form records are
/// stored in), with the same rules and messages as [`to_value`]: the built-in types are
/// written as they are read, anything else goes through [`to_value`]'s slow path.
pub fn to_packed(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<Packed> {
    let mut writer = PackedWriter::new();
    pack(obj, 0, &mut writer).map_err(|refusal| refusal.into_py_err(root))?;
    writer.finish(root).map_err(crate::errors::to_py_err)
}

fn pack(obj: &Bound<'_, PyAny>, depth: usize, writer: &mut PackedWriter) -> Result<(), Refusal> {
    if obj.is_none() {
        writer.null();
    } else if let Ok(text) = obj.cast_exact::<PyString>() {
        writer.str(&text.to_cow().map_err(|_| lone_surrogate())?);
    } else if obj.is_exact_instance_of::<PyInt>() {
        writer.int(integer(obj)?);
    } else if let Ok(float) = obj.cast_exact::<PyFloat>() {
        writer.float(float.value());
    } else if let Ok(flag) = obj.cast_exact::<PyBool>() {
        writer.bool(flag.is_true());
    } else if let Ok(dict) = obj.cast_exact::<PyDict>() {
        pack_object(dict, depth, writer)?;
    } else if let Ok(list) = obj.cast_exact::<PyList>() {
        pack_array(list.iter(), list.len(), depth, writer)?;
    } else if let Ok(tuple) = obj.cast_exact::<PyTuple>() {
        pack_array(tuple.iter(), tuple.len(), depth, writer)?;
    } else if let Ok(bytes) = obj.cast_exact::<PyBytes>() {
        writer.bytes(bytes.as_bytes());
    } else {
        writer.value(&convert_slow(obj, depth)?);
    }
    Ok(())
}

fn pack_object(dict: &Bound<'_, PyDict>, depth: usize, writer: &mut PackedWriter) -> Result<(), Refusal> {
    if depth > VALUE_DEPTH_MAX {
        return Err(too_deep());
    }
    let count = dict.len();
    writer.object(count);
    let mut written = 0;
    for (key, item) in dict.iter() {
        let name = match key.cast::<PyString>() {
            Ok(text) => text.to_cow().map_err(|_| lone_surrogate())?,
            Err(_) => return Err(bad_key(&key)),
        };
        writer.key(&name);
        pack(&item, depth + 1, writer).map_err(|refusal| refusal.at(Step::Key(name.into_owned())))?;
        written += 1;
    }
    if written != count {
        return Err(changed_size("dict"));
    }
    Ok(())
}

fn pack_array<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    count: usize,
    depth: usize,
    writer: &mut PackedWriter,
) -> Result<(), Refusal> {
    if depth > VALUE_DEPTH_MAX {
        return Err(too_deep());
    }
    writer.array(count);
    let mut written = 0;
    for (index, item) in items.take(count).enumerate() {
        pack(&item, depth + 1, writer).map_err(|refusal| refusal.at(Step::Index(index)))?;
        written += 1;
    }
    if written != count {
        return Err(changed_size("list"));
    }
    Ok(())
}

/// A container that another thread (or a conversion hook) resized while it was read.
fn changed_size(what: &str) -> Refusal {
    Refusal::new(format!("{what} that changed size while it was being stored"))
}

fn lone_surrogate() -> Refusal {
    Refusal::new("str that is not valid UTF-8 (it contains a lone surrogate)".to_owned())
}

fn bad_key(key: &Bound<'_, PyAny>) -> Refusal {
    Refusal::new(format!("unsupported dict key type '{}' (keys must be str)", type_name(key)))
}

/// Subclasses of the built-in types, the other bytes-like types, and NumPy scalars.
fn convert_slow(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Refusal> {
    // `bool` cannot be subclassed, so a bool was caught above; any int here is a subclass
    // (`IntEnum`, ...), and comes back as a plain int.
    if obj.is_instance_of::<PyInt>() {
        return integer(obj).map(Value::Int);
    }
    if let Ok(float) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(float.value()));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return string(text).map(Value::String);
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return object(dict, depth);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return array(list.iter(), list.len(), depth);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return array(tuple.iter(), tuple.len(), depth);
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(bytes.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let copied = obj
            .call_method0(intern!(obj.py(), "tobytes"))
            .map_err(|error| {
                Refusal::new(format!("memoryview could not be read as bytes ({error})"))
            })?;
        if let Ok(bytes) = copied.cast::<PyBytes>() {
            return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
        }
    }
    if let Some(value) = numpy_scalar(obj)? {
        return Ok(value);
    }
    Err(Refusal::new(format!(
        "unsupported type '{}'",
        type_name(obj)
    )))
}

fn string(text: &Bound<'_, PyString>) -> Result<String, Refusal> {
    text.to_cow().map(|text| text.into_owned()).map_err(|_| lone_surrogate())
}

fn integer(obj: &Bound<'_, PyAny>) -> Result<i64, Refusal> {
    obj.extract::<i64>().map_err(|error| {
        if error.is_instance_of::<PyOverflowError>(obj.py()) {
            Refusal::new(format!(
                "int outside the 64-bit signed range [{}, {}]",
                i64::MIN,
                i64::MAX
            ))
        } else {
            Refusal::new(format!(
                "'{}' could not be read as an int ({error})",
                type_name(obj)
            ))
        }
    })
}

fn object(dict: &Bound<'_, PyDict>, depth: usize) -> Result<Value, Refusal> {
    if depth > VALUE_DEPTH_MAX {
        return Err(too_deep());
    }
    let mut members = Object::with_capacity(dict.len());
    for (key, item) in dict.iter() {
        let name = match key.cast::<PyString>() {
            Ok(text) => string(text)?,
            Err(_) => return Err(bad_key(&key)),
        };
        match convert(&item, depth + 1) {
            Ok(value) => {
                members.insert(name, value);
            }
            Err(refusal) => return Err(refusal.at(Step::Key(name))),
        }
    }
    Ok(Value::Object(members))
}

fn array<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    len: usize,
    depth: usize,
) -> Result<Value, Refusal> {
    if depth > VALUE_DEPTH_MAX {
        return Err(too_deep());
    }
    let mut values = Vec::with_capacity(len);
    for (index, item) in items.enumerate() {
        values.push(convert(&item, depth + 1).map_err(|refusal| refusal.at(Step::Index(index)))?);
    }
    Ok(Value::Array(values))
}

fn too_deep() -> Refusal {
    Refusal {
        message: format!("is nested more than {VALUE_DEPTH_MAX} levels deep"),
        steps: Vec::new(),
        located: false,
    }
}

/// NumPy's scalar types, looked up once (only if NumPy is importable and only when a
/// value is not one of the built-in types).
struct NumpyScalars {
    bool_: Py<PyType>,
    integer: Py<PyType>,
    floating: Py<PyType>,
}

static NUMPY_SCALARS: PyOnceLock<Option<NumpyScalars>> = PyOnceLock::new();

/// `np.bool_`, `np.integer` and `np.floating` scalars become bool, int and float, as
/// the published package accepted them. Anything else from NumPy (arrays, complex,
/// datetimes) is refused by the caller.
fn numpy_scalar(obj: &Bound<'_, PyAny>) -> Result<Option<Value>, Refusal> {
    let py = obj.py();
    // Only objects whose type comes from NumPy are worth the look-up.
    let from_numpy = obj
        .get_type()
        .module()
        .map(|module| {
            module
                .to_cow()
                .map(|name| name.starts_with("numpy"))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    if !from_numpy {
        return Ok(None);
    }
    let scalars = NUMPY_SCALARS.get_or_init(py, || {
        let numpy = py.import("numpy").ok()?;
        let get = |name: &str| {
            numpy
                .getattr(name)
                .ok()?
                .cast_into::<PyType>()
                .ok()
                .map(Bound::unbind)
        };
        Some(NumpyScalars {
            bool_: get("bool_")?,
            integer: get("integer")?,
            floating: get("floating")?,
        })
    });
    let Some(scalars) = scalars else {
        return Ok(None);
    };
    if obj.is_instance(scalars.bool_.bind(py)).unwrap_or(false) {
        return Ok(Some(Value::Bool(obj.is_truthy().unwrap_or(false))));
    }
    if obj.is_instance(scalars.integer.bind(py)).unwrap_or(false) {
        return integer(obj).map(|int| Some(Value::Int(int)));
    }
    if obj.is_instance(scalars.floating.bind(py)).unwrap_or(false) {
        return obj
            .extract::<f64>()
            .map(|float| Some(Value::Float(float)))
            .map_err(|error| {
                Refusal::new(format!(
                    "'{}' could not be read as a float ({error})",
                    type_name(obj)
                ))
            });
    }
    Ok(None)
}

/// An optional value (metadata): `None` stays absent.
pub fn to_optional_value(obj: Option<&Bound<'_, PyAny>>, root: &str) -> PyResult<Option<Value>> {
    match obj {
        None => Ok(None),
        Some(obj) if obj.is_none() => Ok(None),
        Some(obj) => to_value(obj, root).map(Some),
    }
}

// ----- Value to Python ---------------------------------------------------------------

/// Converts an engine value into a new Python object.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Int(int) => int.into_bound_py_any(py)?,
        Value::Float(float) => PyFloat::new(py, *float).into_any(),
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_py(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (name, item) in members {
                dict.set_item(PyString::new(py, name), to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Converts a packed value into a new Python object, reading its bytes once.
pub fn packed_to_py<'py>(py: Python<'py>, value: &Packed) -> PyResult<Bound<'py, PyAny>> {
    read_py(py, &mut value.reader())
}

fn read_py<'py>(py: Python<'py>, reader: &mut PackedReader<'_>) -> PyResult<Bound<'py, PyAny>> {
    // A `Packed` is always well formed (stratadb::packed); `None` here would be a bug.
    let broken = || pyo3::exceptions::PyRuntimeError::new_err("internal error: a stored value could not be read");
    Ok(match reader.item().ok_or_else(broken)? {
        Item::Null => py.None().into_bound(py),
        Item::Bool(flag) => PyBool::new(py, flag).to_owned().into_any(),
        Item::Int(int) => int.into_bound_py_any(py)?,
        Item::Float(float) => PyFloat::new(py, float).into_any(),
        Item::Str(text) => PyString::new(py, text).into_any(),
        Item::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
        Item::Array(count) => {
            let items = (0..count).map(|_| read_py(py, reader)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Item::Object(count) => {
            let dict = PyDict::new(py);
            for _ in 0..count {
                let name = reader.key().ok_or_else(broken)?;
                dict.set_item(PyString::new(py, name), read_py(py, reader)?)?;
            }
            dict.into_any()
        }
    })
}

/// Either form of a stored value, for the functions that accept both.
pub trait StoredValue {
    fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

impl StoredValue for Value {
    fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self)
    }
}

impl StoredValue for Packed {
    fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        packed_to_py(py, self)
    }
}

/// An optional value: absent becomes `None`.
pub fn optional_to_py<'py, V: StoredValue>(py: Python<'py>, value: Option<&V>) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(value) => value.to_python(py),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A list of `str` from anything that derefs to `str` (`Name`, `String`).
pub fn str_list<'py, S: AsRef<str>>(py: Python<'py>, names: &[S]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        names.iter().map(|name| PyString::new(py, name.as_ref())),
    )
}

// ----- vectors -----------------------------------------------------------------------

/// Copies a vector argument into owned `f32`s: a 1-D NumPy array of any float (or
/// integer) dtype, any byte order and any strides, or a list or tuple of numbers.
/// `what` names the argument in error messages (`vector`, `query`, `vectors[3]`).
pub fn to_embedding(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        return array_embedding(obj, array, what);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .enumerate()
            .map(|(index, item)| number(&item, what, index))
            .collect();
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple
            .iter()
            .enumerate()
            .map(|(index, item)| number(&item, what, index))
            .collect();
    }
    Err(validation(format!(
        "{what} must be a 1-D NumPy array or a list of numbers, got '{}'",
        type_name(obj)
    )))
}

fn number(item: &Bound<'_, PyAny>, what: &str, index: usize) -> PyResult<f32> {
    if let Ok(float) = item.cast_exact::<PyFloat>() {
        return Ok(float.value() as f32);
    }
    // Anything with `__float__` or `__index__`: ints, bools, NumPy scalars, Decimal.
    item.extract::<f64>()
        .map(|float| float as f32)
        .map_err(|_| not_a_number(item, what, index))
}

fn not_a_number(item: &Bound<'_, PyAny>, what: &str, index: usize) -> PyErr {
    validation(format!(
        "{what}[{index}] must be a number, got '{}'",
        type_name(item)
    ))
}

fn array_embedding(
    obj: &Bound<'_, PyAny>,
    array: &Bound<'_, PyUntypedArray>,
    what: &str,
) -> PyResult<Vec<f32>> {
    let py = obj.py();
    if array.ndim() != 1 {
        let dims: Vec<String> = array.shape().iter().map(usize::to_string).collect();
        // Never 1-D here, so no trailing comma is needed: "()" or "(2, 3)".
        let shape = format!("({})", dims.join(", "));
        return Err(validation(format!(
            "{what} must be a 1-D array, got a {}-D array of shape {shape}",
            array.ndim()
        )));
    }
    // Aligned float32 and float64 arrays are read in place, whatever their strides.
    // Everything else (half, long double, non-native byte order, integers, booleans,
    // and unaligned views, which Rust must never read through a reference) is first
    // copied by NumPy into a fresh, aligned float32 array (`astype` always copies).
    if array.is_aligned() {
        if let Ok(floats) = obj.cast::<PyArray1<f32>>() {
            return read_array(floats, |x| x);
        }
        if let Ok(doubles) = obj.cast::<PyArray1<f64>>() {
            return read_array(doubles, |x| x as f32);
        }
    }
    let dtype = array.dtype();
    match dtype.kind() {
        b'f' | b'i' | b'u' | b'b' => {
            let converted = obj.call_method1(intern!(py, "astype"), (intern!(py, "float32"),))?;
            match converted.cast::<PyArray1<f32>>() {
                Ok(floats) if floats.is_aligned() => read_array(floats, |x| x),
                _ => Err(validation(format!(
                    "{what} could not be converted to float32"
                ))),
            }
        }
        _ => Err(validation(format!(
            "{what} must hold numbers, got an array of dtype '{dtype}'"
        ))),
    }
}

fn read_array<T: numpy::Element + Copy>(
    array: &Bound<'_, PyArray1<T>>,
    widen: impl Fn(T) -> f32,
) -> PyResult<Vec<f32>> {
    let readonly = array
        .try_readonly()
        .map_err(|error| validation(format!("the array could not be read ({error})")))?;
    Ok(readonly.as_array().iter().map(|&x| widen(x)).collect())
}

/// A new float32 NumPy array holding a copy of `embedding`.
pub fn embedding_to_py<'py>(py: Python<'py>, embedding: &[f32]) -> Bound<'py, PyArray1<f32>> {
    PyArray1::from_slice(py, embedding)
}
